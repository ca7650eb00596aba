/**
 * `npm run widget:manifest` writes widget/custom-elements.json (committed) from the widget's
 * public sources. The element's behaviour lives in src/internal/lti-completion.ts; the other
 * internal modules are implementation details and stay out.
 */
export default {
  globs: ['widget/src/lti-completion.ts', 'widget/src/internal/lti-completion.ts', 'widget/src/events.ts'],
  outdir: 'widget',
  litelement: true,
  packagejson: false,
  plugins: [publicApiOnly()],
};

/**
 * Drops private (`#x`) members, Lit's static plumbing (`shadowRootOptions`), and the event the
 * analyzer infers from `#emit(type, …)`.
 */
function publicApiOnly() {
  return {
    name: 'lti-completion:public-api-only',
    packageLinkPhase({ customElementsManifest }) {
      for (const mod of customElementsManifest.modules) {
        for (const exp of mod.exports ?? []) {
          if (exp.declaration?.module) exp.declaration.module = exp.declaration.module.replace(/^\//, '');
        }
        for (const decl of mod.declarations ?? []) {
          if (decl.members) decl.members = decl.members.filter((m) => m.privacy !== 'private' && !m.name.startsWith('#') && !m.static);
          if (decl.events) decl.events = decl.events.filter((e) => e.name.startsWith('lti-completion-'));
        }
      }
    },
  };
}
