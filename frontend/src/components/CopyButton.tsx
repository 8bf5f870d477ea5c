import { useState } from "react";

/** Copies `text` to the clipboard and says so (or says how to copy it by hand). */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [said, setSaid] = useState("");
  const copy = () => {
    navigator.clipboard.writeText(text).then(
      () => setSaid("Copied."),
      () => setSaid("The browser refused the clipboard: select the text and copy it."),
    );
  };
  return (
    <>
      <button type="button" onClick={copy}>
        {label}
      </button>
      <span role="status" className="muted">
        {said ? ` ${said}` : ""}
      </span>
    </>
  );
}

/** Offers `text` as a file download, made in the browser (nothing leaves the page). */
export function DownloadButton({ text, filename, label }: { text: string; filename: string; label: string }) {
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(url);
  };
  return (
    <button type="button" onClick={download}>
      {label}
    </button>
  );
}
