import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fileDocument, jsonLineDocument, markdownTitle } from "../../src/ingest/source-files";
import { ROOT } from "../../tools/stack/paths";

describe("markdownTitle", () => {
  it("is the first level-1 heading", () => {
    expect(markdownTitle("Intro line\n\n## Not this\n# API keys and rotation\n\n# Later")).toBe("API keys and rotation");
    expect(markdownTitle("   #   Spaced   ## \ntext")).toBe("Spaced");
    expect(markdownTitle("# C# in five minutes\n")).toBe("C# in five minutes");
  });

  it("prefers front matter's title, quoted or not", () => {
    expect(markdownTitle('---\nlayout: page\ntitle: "Travel policy"\n---\n# Heading')).toBe("Travel policy");
    expect(markdownTitle("---\ntitle: Travel policy\n...\n")).toBe("Travel policy");
    expect(markdownTitle("---\nlayout: page\n---\n# From the heading\n")).toBe("From the heading");
  });

  it("skips code fences and what is not a heading", () => {
    expect(markdownTitle("```sh\n# install it\nnpm ci\n```\n# Setup\n")).toBe("Setup");
    expect(markdownTitle("~~~~\n```\n# still code\n~~~~\n# After\n")).toBe("After");
    expect(markdownTitle("#hashtag\n    # indented code\n#\n")).toBe("");
    expect(markdownTitle("")).toBe("");
  });

  it("cuts a title to the API's 1,024 characters", () => {
    expect(markdownTitle(`# ${"a".repeat(2000)}`)).toHaveLength(1024);
  });

  it("reads the sample guide's titles", () => {
    const text = readFileSync(join(ROOT, "docs", "guide", "api-keys.md"), "utf8");
    expect(markdownTitle(text)).toBe("API keys and rotation");
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
