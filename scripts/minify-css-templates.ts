import type { Plugin } from 'vite';

/**
 * A Vite plugin for the Lit front ends (widget/, dashboard/). The minifier leaves template
 * literals alone, so `css\`…\`` blocks would ship with their indentation. Applied only to
 * the sources under `srcDir`, whose CSS templates have no `${}` or strings.
 */
export function minifyCssTemplates(name: string, srcDir: string): Plugin {
  return {
    name: `${name}:minify-css-templates`,
    enforce: 'pre',
    transform(code, id) {
      if (!id.startsWith(srcDir)) return null;
      return code.replace(/\bcss`([^`$]*)`/g, (_, text: string) => {
        const min = text
          .replace(/\/\*[^]*?\*\//g, '')
          .replace(/\s+/g, ' ')
          .replace(/\s*([{}:;,>])\s*/g, '$1')
          .replace(/;}/g, '}')
          .trim();
        return `css\`${min}\``;
      });
    },
  };
}
