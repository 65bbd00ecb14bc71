/** Stylesheets the page imports; esbuild bundles them into the page's CSS. */
declare module '*.css';
