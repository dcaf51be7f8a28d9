import { describe, expect, it } from "vitest";
import { elide } from "../../tools/eval/multi-turn";

/** The eval's multi-turn set: a second question made elliptical, as a person asks a follow-up in a chat. */
describe("elide", () => {
  it("happy: names after the first word become 'it' (a possessive 'its')", () => {
    expect(elide("How many career sacks did Jared Allen have?")).toBe("How many career sacks did it have?");
    expect(elide("What was Warsaw's population in 1901?")).toBe("What was its population in 1901?");
    expect(elide("Who stripped the ball from Newton on a 3rd and nine?")).toBe("Who stripped the ball from it on a 3rd and nine?");
  });

  it("happy: a question that names nothing, or keeps too little of its own, is no follow-up", () => {
    expect(elide("How many points did the defense surrender?")).toBeNull();
    expect(elide("Who is Peyton Manning?")).toBeNull();
    expect(elide("What did Lady Gaga sing?")).toBe("What did it sing?");
  });
});
