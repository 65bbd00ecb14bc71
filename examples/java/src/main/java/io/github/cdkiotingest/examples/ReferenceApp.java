package io.github.cdkiotingest.examples;

import software.amazon.awscdk.App;

/** The example deployments, in Java: the same stacks as ../app.ts. */
public final class ReferenceApp {
    private ReferenceApp() {
    }

    public static void main(final String[] args) {
        App app = new App();
        // No account or region: the templates are environment-agnostic and synthesize offline.
        new ReferenceStack(app, "IotBackendReference");
        new FullStack(app, "IotBackendFull");
        app.synth();
    }
}
