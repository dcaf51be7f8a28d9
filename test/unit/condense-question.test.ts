import { describe, expect, it } from "vitest";
import { condenseQuestionByRules, isElliptical, MAX_STANDALONE_CHARS } from "../../src/shared/condense-question";

/**
 * The offline condense step (the origin without an LLM, and the worker when no origin answers): an
 * elliptical follow-up gets the earlier turns' key terms; a question that stands alone stays as written.
 */
const ROTATION = [
  { role: "user" as const, content: "How do I rotate an API key?" },
  { role: "assistant" as const, content: "Create a new key, move every client to it, then revoke the old key [1]." },
];

describe("condenseQuestionByRules", () => {
  it("happy: a follow-up leaning on 'one' carries the earlier question's terms", () => {
    expect(condenseQuestionByRules(ROTATION, "How long until the old one stops working?")).toEqual({
      question: "How long until the old one stops working? (rotate API key)",
      method: "rules",
    });
  });

  it("happy: 'they' after an answer that names a team carries the team's name", () => {
    const history = [
      { role: "user" as const, content: "Who won Super Bowl 50?" },
      { role: "assistant" as const, content: "Super Bowl 50 was won by the Denver Broncos [1]." },
    ];
    const { question, method } = condenseQuestionByRules(history, "How many points did they score?");
    expect(method).toBe("rules");
    expect(question).toMatch(/^How many points did they score\? \(won Super Bowl 50 .*Denver.*\)$/);
  });

  it("happy: 'and what about …' is a follow-up even with content words of its own", () => {
    expect(isElliptical("And what about expired tokens?")).toBe(true);
    expect(condenseQuestionByRules(ROTATION, "And what about expired tokens?").method).toBe("rules");
  });

  it("happy: a question that stands alone, or one without history, is kept as written", () => {
    const standalone = "Which roles may ingest documents into a collection?";
    expect(condenseQuestionByRules(ROTATION, standalone)).toEqual({ question: standalone, method: "none" });
    expect(condenseQuestionByRules([], "How long does it take?")).toEqual({ question: "How long does it take?", method: "none" });
    // Only assistant turns: nothing the user asked before to carry.
    expect(condenseQuestionByRules([ROTATION[1]!], "And it?").method).toBe("none");
  });

  it("happy: deterministic, and never longer than the query limit", () => {
    const long = `${"word ".repeat(390)}it?`;
    const history = [{ role: "user" as const, content: "Kubernetes HorizontalPodAutoscaler replicas tuning thresholds explained" }];
    const first = condenseQuestionByRules(history, long);
    expect(condenseQuestionByRules(history, long)).toEqual(first);
    expect(first.question.length).toBeLessThanOrEqual(MAX_STANDALONE_CHARS);
  });
});
