import { describe, expect, it } from "vitest";
import { sectionLabel } from "../../src/ingest/layout";
import { locationOf } from "../../src/query/source-location";

/**
 * Where a source came from, as the console's source list and the MCP tools' text show it:
 * "p. 3 · Installation › Upgrades", each part only where the source has it.
 */
describe("source location (unit)", () => {
  it("a heading path is stored joined with ' › ', none where the block had no heading", () => {
    expect(sectionLabel(["Installation", "Upgrades"])).toBe("Installation › Upgrades");
    expect(sectionLabel(["Pump manual", "Maintenance", "Valves"])).toBe("Pump manual › Maintenance › Valves");
    expect(sectionLabel(["Installation"])).toBe("Installation");
    expect(sectionLabel([])).toBeNull();
    expect(sectionLabel(undefined)).toBeNull();
  });

  it("a page alone (a PDF's source)", () => {
    expect(locationOf({ page: 3 })).toBe("p. 3");
    expect(locationOf({ page: 1, section: undefined })).toBe("p. 1");
  });

  it("a section alone (HTML, DOCX, Markdown): its whole path", () => {
    expect(locationOf({ section: "Installation" })).toBe("Installation");
    expect(locationOf({ section: sectionLabel(["Installation", "Upgrades"]) })).toBe("Installation › Upgrades");
  });

  it("both: the page, then the path, joined with ' · '", () => {
    expect(locationOf({ page: 3, section: sectionLabel(["Installation", "Upgrades"]) })).toBe("p. 3 · Installation › Upgrades");
    expect(locationOf({ page: 12, section: "Setup" })).toBe("p. 12 · Setup");
  });

  it("neither (a document sent as JSON text): nothing, so nothing is shown", () => {
    expect(locationOf({})).toBe("");
    expect(locationOf({ page: undefined, section: undefined })).toBe("");
    expect(locationOf({ page: null, section: null })).toBe("");
    expect(locationOf({ section: "" })).toBe("");
  });
});
