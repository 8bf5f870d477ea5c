import { SseParser } from "./sse";

describe("SseParser", () => {
  it("joins multi-line data and honours event names and ids", () => {
    const p = new SseParser();
    expect(p.push("event: log\nid: 7\ndata: one\ndata: two\n\n")).toEqual([
      { event: "log", data: "one\ntwo", id: "7" },
    ]);
  });

  it("completes events split across arbitrary chunks, including CRLF halves", () => {
    const p = new SseParser();
    const text = ": keep-alive\r\ndata: {\"line\":\"plan\"}\r\n\r\ndata: done\r\n\r\n";
    const events = [];
    for (const ch of text) events.push(...p.push(ch));
    expect(events.map((e) => e.data)).toEqual(['{"line":"plan"}', "done"]);
    expect(events[0]?.event).toBe("message");
  });

  it("ignores comments and blank lines without data", () => {
    const p = new SseParser();
    expect(p.push(":ping\n\n\n")).toEqual([]);
  });
});
