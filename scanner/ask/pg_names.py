"""What a PostgreSQL statement names: parsed by PostgreSQL's own parser (libpg_query,
through pglast), every function, operator, type and relation it calls or reads, wherever
it appears (subqueries, CTEs, LATERAL, FROM, casts, window and sort clauses).

``sql_postgres`` then resolves these names against the database's catalogue. The
statement must be exactly one SELECT (or VALUES/TABLE): anything else anywhere in the
tree — a data-modifying WITH, SELECT … INTO, FOR UPDATE — is refused here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pglast
from pglast import ast
from pglast.enums import A_Expr_Kind

from .sql import ReadOnlyViolation, SqlError

Name = tuple[str | None, str]  # (schema or None, name)

# SQL/JSON syntax that parses as a node here (PostgreSQL 16+) but as a plain call of a
# function of that name on older servers: checked like a function call.
_KEYWORD_CALLS = {
    ast.JsonObjectConstructor: ("json_object",),
    ast.JsonArrayConstructor: ("json_array",),
    ast.JsonArrayQueryConstructor: ("json_array",),
    ast.JsonObjectAgg: ("json_objectagg",),
    ast.JsonArrayAgg: ("json_arrayagg",),
    ast.JsonParseExpr: ("json",),
    ast.JsonScalarExpr: ("json_scalar",),
    ast.JsonSerializeExpr: ("json_serialize",),
    ast.JsonFuncExpr: ("json_exists", "json_query", "json_value"),
    ast.JsonTable: ("json_table",),
    ast.MergeSupportFunc: ("merge_action",),
}
KEYWORD_CALL_NAMES = frozenset(name for names in _KEYWORD_CALLS.values() for name in names)
_BETWEEN = {
    A_Expr_Kind.AEXPR_BETWEEN,
    A_Expr_Kind.AEXPR_NOT_BETWEEN,
    A_Expr_Kind.AEXPR_BETWEEN_SYM,
    A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
}
TABLESAMPLE_METHODS = {"system", "bernoulli"}


@dataclass
class Names:
    functions: set[Name] = field(default_factory=set)  # called: f(…)
    # x.f and (x).f may call f(x) (functional notation), and SQL/JSON syntax is a call
    # on older servers: functions *if* the database has one of that name
    maybe_functions: set[str] = field(default_factory=set)
    operators: set[Name] = field(default_factory=set)
    types: set[Name] = field(default_factory=set)
    relations: set[Name] = field(default_factory=set)  # tables and views, CTEs excluded


def statement_names(statement: str) -> Names:
    """The names one SELECT statement uses. Raises SqlError when it does not parse and
    ReadOnlyViolation when it is not exactly one plain SELECT."""
    try:
        parsed = pglast.parse_sql(statement)
    except pglast.parser.ParseError as exc:
        raise SqlError(str(exc)) from None
    if len(parsed) != 1:
        raise ReadOnlyViolation("refused: omscan sql runs exactly one statement")
    names = Names()
    _Walk(names).visit(parsed[0].stmt, frozenset())
    return names


def _slots(node: ast.Node) -> Iterable[str]:
    """The attributes of a parse-tree node (pglast declares them per class)."""
    slots: dict[str, Any] = getattr(node, "__slots__", {})
    return slots.keys()


def _name(parts: Any) -> Name:
    strings = [p.sval or "" for p in parts or () if isinstance(p, ast.String)]
    if not strings:
        raise ReadOnlyViolation("refused: a name omscan sql cannot read")
    if len(strings) > 2:  # database.schema.name
        raise ReadOnlyViolation(f"refused: {'.'.join(strings)} is in another database")
    return (strings[0], strings[1]) if len(strings) == 2 else (None, strings[0])


class _Walk:
    def __init__(self, names: Names) -> None:
        self.names = names

    def visit(self, node: Any, ctes: frozenset[str]) -> None:
        """Collect from ``node``; ``ctes`` are the WITH names visible at this point."""
        if isinstance(node, tuple | list):
            for item in node:
                self.visit(item, ctes)
            return
        if isinstance(node, ast.SelectStmt):
            self._select(node, ctes)
            return
        if not isinstance(node, ast.Node):
            return
        if type(node).__name__.endswith("Stmt"):
            raise ReadOnlyViolation("refused: omscan sql only runs SELECT statements")
        self._collect(node, ctes)
        for attribute in _slots(node):
            self.visit(getattr(node, attribute), ctes)

    def _collect(self, node: ast.Node, ctes: frozenset[str]) -> None:
        names = self.names
        if isinstance(node, ast.RangeVar):
            self._relation(node, ctes)
        elif isinstance(node, ast.FuncCall):
            names.functions.add(_name(node.funcname))
        elif isinstance(node, ast.A_Expr):
            self._operator(node)
        elif isinstance(node, ast.SubLink) and node.operName:
            names.operators.add(_name(node.operName))
        elif isinstance(node, ast.SortBy) and node.useOp:
            names.operators.add(_name(node.useOp))
        elif isinstance(node, ast.CaseExpr) and node.arg is not None:
            names.operators.add((None, "="))  # CASE x WHEN y: x = y
        elif isinstance(node, ast.TypeName):
            if node.pct_type:
                raise ReadOnlyViolation("refused: omscan sql does not read %TYPE")
            names.types.add(_name(node.names))
        elif isinstance(node, ast.ColumnRef) and len(node.fields or ()) > 1:
            last = (node.fields or ())[-1]  # t.f: f may be a function of t
            if isinstance(last, ast.String) and last.sval:
                names.maybe_functions.add(last.sval)
        elif isinstance(node, ast.A_Indirection):  # (x).f calls f(x) when f is a function
            names.maybe_functions.update(
                field.sval
                for field in node.indirection or ()
                if isinstance(field, ast.String) and field.sval
            )
        elif isinstance(node, ast.RangeTableSample):
            method = _name(node.method)
            if method[0] not in (None, "pg_catalog") or method[1] not in TABLESAMPLE_METHODS:
                raise ReadOnlyViolation(f"refused: TABLESAMPLE {method[1]}")
        elif type(node) in _KEYWORD_CALLS:
            names.maybe_functions.update(_KEYWORD_CALLS[type(node)])

    def _select(self, node: ast.SelectStmt, ctes: frozenset[str]) -> None:
        if node.intoClause is not None:
            raise ReadOnlyViolation("refused: SELECT … INTO creates a table")
        if node.lockingClause:
            raise ReadOnlyViolation("refused: FOR UPDATE/SHARE locks rows")
        if node.withClause is not None:
            defined = [cte.ctename for cte in node.withClause.ctes or ()]
            for index, cte in enumerate(node.withClause.ctes or ()):
                # a plain WITH sees only the CTEs before it; WITH RECURSIVE sees them all
                seen = defined if node.withClause.recursive else defined[:index]
                self.visit(cte, ctes | frozenset(seen))
            ctes = ctes | frozenset(defined)
        for attribute in _slots(node):
            if attribute != "withClause":
                self.visit(getattr(node, attribute), ctes)

    def _relation(self, node: ast.RangeVar, ctes: frozenset[str]) -> None:
        if node.catalogname:
            raise ReadOnlyViolation(f"refused: {node.catalogname} is another database")
        if node.schemaname is None and node.relname in ctes:
            return
        self.names.relations.add((node.schemaname, node.relname or ""))

    def _operator(self, node: ast.A_Expr) -> None:
        if node.kind in _BETWEEN:  # a BETWEEN b AND c: a >= b AND a <= c
            self.names.operators.update({(None, ">="), (None, "<=")})
        else:
            self.names.operators.add(_name(node.name))
