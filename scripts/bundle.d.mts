export function bundle(entry: string, outfile: string): Promise<string>;
export const lambdaBuildOptions: Record<string, unknown>;
