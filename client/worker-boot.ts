/**
 * The eval source that starts a worker thread on a module. Workers do not
 * inherit `--import tsx`: a `.ts` body gets tsx's loader registered first;
 * a compiled body (the `.mjs` files of dist/, scripts/build-client.ts)
 * loads as it is, without paying for tsx.
 */
export function workerSource(url: URL): string {
  const body = `import(${JSON.stringify(url.href)})`;
  if (!url.pathname.endsWith('.ts')) return body;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return ${body}; })`;
}
