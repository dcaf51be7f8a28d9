import { BLOCK_SEPARATOR, type LocatedBlock, textOfBlocks } from "../shared/origin-contract";

/**
 * A document made from a file is stored as its text, `textOfBlocks(blocks)`, plus its layout: each
 * block's length and location, without its text. The blocks the origin chunks by (so that each
 * chunk keeps its page or section) are rebuilt from the two, exactly, so the text is stored once.
 */
export interface LayoutEntry {
  /** The block's length in UTF-16 units. */
  chars: number;
  page?: number;
  section?: string[];
}

/** The layout of `blocks` as the document row stores it (JSON). */
export function layoutOf(blocks: readonly LocatedBlock[]): string {
  return JSON.stringify(
    blocks.map(
      (block): LayoutEntry => ({
        chars: block.text.length,
        ...(block.page === undefined ? {} : { page: block.page }),
        ...(block.section === undefined ? {} : { section: block.section }),
      }),
    ),
  );
}

/** The blocks a stored text and layout were made of; throws when they do not fit together (a corrupt row). */
export function blocksOf(text: string, layout: string): LocatedBlock[] {
  const entries = JSON.parse(layout) as LayoutEntry[];
  let offset = 0;
  const blocks = entries.map(({ chars, ...location }, index) => {
    if (index > 0) offset += BLOCK_SEPARATOR.length;
    const block = { text: text.slice(offset, offset + chars), ...location };
    offset += chars;
    return block;
  });
  if (offset !== text.length || textOfBlocks(blocks) !== text) throw new Error("the document's layout does not match its text");
  return blocks;
}

/** A section path as sources show it. */
export const sectionLabel = (section: readonly string[] | undefined): string | null =>
  section && section.length > 0 ? section.join(" › ") : null;
