"""Source code as documents: one section per function, class or other definition, named by its symbol
(``Parser.parse``), so chunks follow the code's own boundaries and say what they hold.

Parsers, best first: tree-sitter grammars from PyPI (``pip install encoderkit[code]``: Python,
JavaScript, TypeScript/TSX, Go, Rust, Java, C, C++); Python's own :mod:`ast` for ``.py`` without
tree-sitter; otherwise (or on a parse failure) a documented fallback: top-level definitions found by
line patterns (``def``/``class``/``function``/``fn``/``func``/...) at column 0. A definition longer than
:data:`SPLIT_CHARS` is split into its own definitions (a class into its methods). Comments and
decorators right above a definition belong to it. Sections tile the file, so nothing is dropped.

>>> secs = code_sections("import os\\n\\ndef f():\\n    return 1\\n", "python", parser="ast")[0]
>>> [(label, s) for s, e, label in secs]
[('', 0), ('f', 11)]
"""

from __future__ import annotations

import ast
import re
from typing import Callable

SPLIT_CHARS = 3000

LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
}

# tree-sitter node types that define a named symbol, per language
_DEFS = {
    "python": {"function_definition", "class_definition", "decorated_definition"},
    "javascript": {
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "method_definition",
        "lexical_declaration",
        "export_statement",
    },
    "go": {"function_declaration", "method_declaration", "type_declaration"},
    "rust": {"function_item", "struct_item", "enum_item", "impl_item", "trait_item", "mod_item", "macro_definition"},
    "java": {
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "method_declaration",
        "constructor_declaration",
    },
    "c": {"function_definition", "struct_specifier", "enum_specifier", "type_definition"},
    "cpp": {
        "function_definition",
        "class_specifier",
        "struct_specifier",
        "namespace_definition",
        "template_declaration",
        "enum_specifier",
    },
}
_DEFS["typescript"] = _DEFS["javascript"] | {
    "interface_declaration",
    "type_alias_declaration",
    "enum_declaration",
    "abstract_class_declaration",
}
_DEFS["tsx"] = _DEFS["typescript"]
_COMMENT = re.compile(r"\s*(#|//|/\*|\*|///|@|\[|--)")
_PATTERN_DEF = re.compile(
    r"(?:(?:export|pub(?:\([^)]*\))?|public|private|protected|static|async|abstract|final|default|unsafe)\s+)*"
    r"(?:def|class|function\*?|fn|func|struct|enum|trait|interface|impl|type|mod)\s+"
    r"(?:\([^)]*\)\s*)?([A-Za-z_$][\w$]*)"
)


def language_of(suffix: str) -> str | None:
    return LANGUAGES.get(suffix.lower())


def code_sections(text: str, language: str, *, parser: str = "auto") -> tuple[list[tuple[int, int, str]], str]:
    """((start, end, symbol) spans tiling ``text``, the parser used: tree-sitter | ast | patterns)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    defs, used = None, "patterns"
    if parser in ("auto", "tree-sitter"):
        defs = _tree_sitter_defs(text, language, lines)
        used = "tree-sitter"
    if defs is None and language == "python" and parser in ("auto", "ast"):
        defs = _ast_defs(text, lines)
        used = "ast"
    if defs is None:
        defs, used = _pattern_defs(lines), "patterns"
    return _tile(defs, lines, starts, len(text)), used


def _tile(defs: list[tuple[int, int, str]], lines: list[str], starts: list[int], n_chars: int) -> list[tuple[int, int, str]]:
    """Line ranges (first, last+1, label) -> char spans covering the whole text; gaps get label ""."""
    spans, line = [], 0
    for first, end, label in sorted(defs):
        if first < line:
            continue  # nested or overlapping: the outer one already covers it
        while first > line and _COMMENT.match(lines[first - 1]) and lines[first - 1].strip():
            first -= 1  # doc comments and decorators right above belong to the definition
        if first > line and any(ln.strip() for ln in lines[line:first]):
            spans.append((starts[line], starts[first], ""))
        elif first > line and spans:
            spans[-1] = (spans[-1][0], starts[first], spans[-1][2])  # blank lines join the previous span
        elif first > line:
            first = line
        spans.append((starts[first], starts[min(end, len(lines))], label))
        line = min(end, len(lines))
    if line < len(lines):
        if spans and not any(ln.strip() for ln in lines[line:]):
            spans[-1] = (spans[-1][0], n_chars, spans[-1][2])
        else:
            spans.append((starts[line], n_chars, ""))
    if not spans:
        spans = [(0, n_chars, "")]
    return [s for s in spans if s[1] > s[0]]


# ---------------------------------------------------------------------------- tree-sitter
def _ts_language(language: str):
    try:
        import tree_sitter
    except ImportError:
        return None
    module_name, func = {
        "typescript": ("tree_sitter_typescript", "language_typescript"),
        "tsx": ("tree_sitter_typescript", "language_tsx"),
    }.get(language, (f"tree_sitter_{language}", "language"))
    try:
        import importlib

        module = importlib.import_module(module_name)
        return tree_sitter.Language(getattr(module, func)())
    except (ImportError, AttributeError, ValueError):
        return None


def _node_name(node) -> str:
    name = node.child_by_field_name("name")
    if name is None:
        for field in ("declarator", "type"):
            sub = node.child_by_field_name(field)
            while sub is not None and sub.child_by_field_name("name") is None and sub.child_by_field_name("declarator"):
                sub = sub.child_by_field_name("declarator")
            if sub is not None:
                name = sub.child_by_field_name("name") or sub
                break
    if name is None:
        for child in node.named_children:
            if child.type in ("function_definition", "class_definition", "variable_declarator", "function_declaration",
                              "class_declaration", "type_spec", "lexical_declaration"):  # fmt: skip
                return _node_name(child)
            if child.type in ("identifier", "type_identifier", "property_identifier"):
                name = child
                break
    if name is None:
        return ""
    return name.text.decode("utf-8", "replace").split("(")[0].strip()[:200]


def _tree_sitter_defs(text: str, language: str, lines: list[str]) -> list[tuple[int, int, str]] | None:
    lang = _ts_language(language)
    if lang is None:
        return None
    import tree_sitter

    tree = tree_sitter.Parser(lang).parse(text.encode("utf-8", "surrogatepass"))
    kinds = _DEFS.get(language, set())
    out: list[tuple[int, int, str]] = []

    def visit(node, prefix: str) -> None:
        for child in node.named_children:
            if child.type not in kinds:
                if child.type in ("class_body", "declaration_list", "field_declaration_list", "body"):
                    visit(child, prefix)
                continue
            name = _node_name(child)
            label = f"{prefix}.{name}" if prefix and name else name or prefix
            first, end = child.start_point[0], child.end_point[0] + 1
            size = sum(len(ln) for ln in lines[first:end])
            inner: list = []
            if size > SPLIT_CHARS:
                before = len(out)
                for sub in (child.child_by_field_name("body"), child.child_by_field_name("definition"), child):
                    if sub is not None:
                        visit(sub, label)
                        if len(out) > before:
                            break
                inner = out[before:]
            if inner:
                head_end = inner[0][0]
                if head_end > first:
                    out.insert(before, (first, head_end, label))
            else:
                out.append((first, end, label))

    visit(tree.root_node, "")
    return out


# ---------------------------------------------------------------------------- fallbacks
def _ast_defs(text: str, lines: list[str]) -> list[tuple[int, int, str]] | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    out: list[tuple[int, int, str]] = []
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

    def visit(body, prefix: str) -> None:
        for node in body:
            if not isinstance(node, kinds):
                continue
            label = f"{prefix}.{node.name}" if prefix else node.name
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            end = node.end_lineno or node.lineno
            size = sum(len(ln) for ln in lines[first:end])
            before = len(out)
            if size > SPLIT_CHARS:
                visit(node.body, label)
            if len(out) > before:
                if out[before][0] > first:
                    out.insert(before, (first, out[before][0], label))
            else:
                out.append((first, end, label))

    visit(tree.body, "")
    return out


def _pattern_defs(lines: list[str]) -> list[tuple[int, int, str]]:
    starts = []
    for i, line in enumerate(lines):
        if line[:1].isspace() or len(line) > 1000:
            continue
        m = _PATTERN_DEF.match(line)
        if m:
            starts.append((i, m.group(1)))
    out = []
    for k, (s, name) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        while end - 1 > s and (not lines[end - 1].strip() or _COMMENT.match(lines[end - 1])):
            end -= 1  # blank lines, comments and decorators above the next definition belong to it
        out.append((s, end, name))
    return out


Sectioner = Callable[[str, str], tuple[list[tuple[int, int, str]], str]]
