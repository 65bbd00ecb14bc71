package io.github.cdkiotingest.examples;

import software.amazon.awscdk.App;

/** The reference deployment, in Java: the same stack as ../app.ts. */
public final class ReferenceApp {
    private ReferenceApp() {
    }

    public static void main(final String[] args) {
        App app = new App();
        // No account or region: the template is environment-agnostic and synthesizes offline.
        new ReferenceStack(app, "IotBackendReference");
        app.synth();
    }
}
