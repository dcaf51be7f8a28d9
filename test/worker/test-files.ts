/**
 * What the files of the upload tests say (file-upload.test.ts): the global setup makes the PDF and
 * the DOCX (with the origin's test helpers, in Node); the tests write HTML and Markdown by hand.
 * Plain constants only: both Node (the global setup) and workerd (the tests) load this module.
 */

/** The three-page PDF's unique fact, on page 3 only. */
export const PDF_FACT = "The heron index of the Lisbon plant is 7731.";

/** The Word document's fact (container/test/helpers/files.ts FACT), under Setup › Upgrades. */
export const DOCX_FACT = "The zebra code is 4417.";
