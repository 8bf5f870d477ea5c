/** Read the files of a .tar.gz (the API's render download) in the browser, without a library. */

export interface TarFile {
  path: string;
  text: string;
}

function field(block: Uint8Array, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
}

/** Parse an uncompressed ustar archive: regular files only, as UTF-8 text. */
export function untar(data: Uint8Array): TarFile[] {
  const files: TarFile[] = [];
  let off = 0;
  while (off + 512 <= data.length) {
    const header = data.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = field(header, 0, 100);
    const size = parseInt(field(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    off += 512;
    if (type === "0" || type === "\0") {
      files.push({ path: prefix ? `${prefix}/${name}` : name, text: new TextDecoder().decode(data.subarray(off, off + size)) });
    }
    off += Math.ceil(size / 512) * 512;
  }
  return files;
}

export async function gunzip(body: Blob): Promise<Uint8Array> {
  const stream = body.stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
