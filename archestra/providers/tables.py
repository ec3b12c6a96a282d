"""Every API family's declared table (``shapes.FamilyTable``), in one list: what the generated document and the
coverage tests read. Each family module keeps its own tables in a module-level ``TABLES`` list."""
from __future__ import annotations

from . import (anthropic_blocks, bedrock_content, bedrock_invoke, cohere, gemini_format, ollama_native_table, openai_calls,
               responses_items)
from .shapes import FamilyTable, markdown

_FAMILY_MODULES = (openai_calls, responses_items, anthropic_blocks, gemini_format, cohere, bedrock_content,
                   bedrock_invoke, ollama_native_table)


def all_tables() -> list[FamilyTable]:
    return [table for module in _FAMILY_MODULES for table in getattr(module, "TABLES", ())]


if __name__ == "__main__":
    print(markdown(all_tables()), end="")
