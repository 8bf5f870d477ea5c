import { untar } from "./tar";

function header(name: string, size: number, type = "0"): Uint8Array {
  const h = new Uint8Array(512);
  h.set(new TextEncoder().encode(name), 0);
  h.set(new TextEncoder().encode(size.toString(8).padStart(11, "0")), 124);
  h[156] = type.charCodeAt(0);
  return h;
}

it("reads regular files and skips directories and padding", () => {
  const body = new TextEncoder().encode("kind: Deployment\n");
  const padded = new Uint8Array(512);
  padded.set(body);
  const archive = new Uint8Array([...header("k8s/", 0, "5"), ...header("k8s/api.yaml", body.length), ...padded, ...new Uint8Array(1024)]);
  expect(untar(archive)).toEqual([{ path: "k8s/api.yaml", text: "kind: Deployment\n" }]);
});
