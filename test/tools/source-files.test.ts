import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fileDocument, jsonLineDocument, readMarkdown } from "../../src/ingest/source-files";
import { ROOT } from "../../tools/stack/paths";

describe("readMarkdown", () => {
  it("is the first level-1 heading", () => {
    expect(readMarkdown("Intro line\n\n## Not this\n# API keys and rotation\n\n# Later").title).toBe("API keys and rotation");
    expect(readMarkdown("   #   Spaced   ## \ntext").title).toBe("Spaced");
    expect(readMarkdown("# C# in five minutes\n").title).toBe("C# in five minutes");
  });

  it("leaves front matter out of the text to index", () => {
    expect(readMarkdown("---\r\ntitle: 'Travel'\r\ntags: [a]\r\n---\r\nBody.\r\n")).toEqual({ title: "Travel", text: "Body.\r\n" });
    expect(readMarkdown("---\nlayout: page\n...\n# Heading\nBody.")).toEqual({ title: "Heading", text: "# Heading\nBody." });
    // A thematic break later on, or an opening line without its closing one, is not front matter.
    const text = "Intro\n---\ntitle: no\n---\n";
    expect(readMarkdown(text)).toEqual({ title: "", text });
    expect(readMarkdown("---\ntitle: never closed\n\nBody")).toEqual({ title: "", text: "---\ntitle: never closed\n\nBody" });
  });

  it("prefers front matter's title, quoted or not", () => {
    expect(readMarkdown('---\nlayout: page\ntitle: "Travel policy"\n---\n# Heading').title).toBe("Travel policy");
    expect(readMarkdown("---\ntitle: Travel policy\n...\n").title).toBe("Travel policy");
    expect(readMarkdown("---\nlayout: page\n---\n# From the heading\n").title).toBe("From the heading");
  });

  it("skips code fences and what is not a heading", () => {
    expect(readMarkdown("```sh\n# install it\nnpm ci\n```\n# Setup\n").title).toBe("Setup");
    expect(readMarkdown("~~~~\n```\n# still code\n~~~~\n# After\n").title).toBe("After");
    expect(readMarkdown("#hashtag\n    # indented code\n#\n").title).toBe("");
    expect(readMarkdown("").title).toBe("");
  });

  it("cuts a title to the API's 1,024 characters", () => {
    expect(readMarkdown(`# ${"a".repeat(2000)}`).title).toHaveLength(1024);
  });

  it("reads the sample guide's titles", () => {
    const text = readFileSync(join(ROOT, "docs", "guide", "api-keys.md"), "utf8");
    expect(readMarkdown(text).title).toBe("API keys and rotation");
  });
});

describe("fileDocument", () => {
  it("gives a Markdown file its title beside the caller's metadata", () => {
    expect(fileDocument("guide/api keys.md", "# Keys\n\nRotate them.", { path: "guide/api keys.md" })).toEqual({
      id: "guide_api_keys.md",
      text: "# Keys\n\nRotate them.",
      metadata: { path: "guide/api keys.md", title: "Keys" },
    });
  });

  it("sends a Markdown file without its front matter", () => {
    expect(fileDocument("post.md", "---\ntitle: Post\n---\nText.")).toEqual({ id: "post.md", text: "Text.", metadata: { title: "Post" } });
  });

  it("gives a text file or an untitled Markdown file no title", () => {
    expect(fileDocument("notes.txt", "# not markdown")).toEqual({ id: "notes.txt", text: "# not markdown" });
    expect(fileDocument("notes.md", "no heading", { path: "notes.md" })).toEqual({
      id: "notes.md",
      text: "no heading",
      metadata: { path: "notes.md" },
    });
  });
});

describe("jsonLineDocument", () => {
  it("reads a BEIR line: the title leads the text and becomes metadata.title", () => {
    expect(jsonLineDocument({ _id: 42, title: " Basalt ", text: "Volcanic rock." })).toEqual({
      id: "42",
      text: "Basalt\n\nVolcanic rock.",
      metadata: { title: "Basalt" },
    });
  });

  it("keeps an {id,text,metadata} line as it is", () => {
    const line = { id: "a", title: "ignored for the text", text: "Body.", metadata: { lang: "en" } };
    expect(jsonLineDocument(line)).toEqual({ id: "a", text: "Body.", metadata: { lang: "en" } });
    expect(jsonLineDocument({ text: "No id." })).toEqual({ text: "No id." });
  });

  it("says why a line is not a document", () => {
    expect(jsonLineDocument({ id: "a", text: "  " })).toBe('needs a "text"');
    expect(jsonLineDocument({ id: "a" })).toBe('needs a "text"');
  });
});
