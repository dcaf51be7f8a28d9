import { PromptTemplate } from "@llamaindex/core/prompts";

/**
 * LlamaIndex prompt templates for answers that cite their sources. Each context reaches the model
 * prefixed with its 1-based label ("[2] ..."), so the label survives LlamaIndex's repacking of
 * contexts into the context window.
 */
export const citationQAPrompt = new PromptTemplate({
  templateVars: ["context", "query"],
  template: `You answer questions using only the numbered sources below.
---------------------
{context}
---------------------
Answer the question in a few sentences. After every sentence, cite the sources it relies on as [n],
using the numbers above. If the sources do not contain the answer, say that you cannot answer from the
documents. Do not use prior knowledge.
Question: {query}
Answer:`,
});

export const citationRefinePrompt = new PromptTemplate({
  templateVars: ["query", "existingAnswer", "context"],
  template: `The question is: {query}
The existing answer, with its [n] citations, is: {existingAnswer}
Here are more numbered sources:
------------
{context}
------------
Improve the existing answer with these sources if they help, keeping and adding [n] citations after
each sentence. If they do not help, repeat the existing answer unchanged.
Answer:`,
});

export const NO_CONTEXT_ANSWER = "I cannot answer this from the documents: no relevant documents were found.";

/** Label a context the way the prompts and the answer refer to it. */
export const labelContext = (index: number, text: string) => `[${index + 1}] ${text}`;
