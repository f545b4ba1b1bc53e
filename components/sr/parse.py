"""Parse formula strings (a user's pinned expression, Feynman tables, peer tools' output) without eval or sympify.

Python's ``ast`` parses the text into a syntax tree; only whitelisted node types, function names and
variable names become SymPy objects. Anything else raises ValueError.
"""
import ast

import sympy

FUNCTIONS = {
    "exp": sympy.exp, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos, "tanh": sympy.tanh,
    "arcsin": sympy.asin, "arccos": sympy.acos, "asin": sympy.asin, "acos": sympy.acos, "ln": sympy.log,
    "log": sympy.log, "abs": sympy.Abs, "Abs": sympy.Abs, "square": lambda a: a ** 2, "cube": lambda a: a ** 3,
    "neg": lambda a: -a, "inv": lambda a: 1 / a, "add": lambda a, b: a + b, "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b, "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
}
BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
          ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}


MAX_LENGTH = 2000


def parse(text: str, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    """``symbols`` maps every allowed variable name to its SymPy symbol; ``pi`` is always allowed.

    Raises ValueError naming the first unsupported name or construct.
    """
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise ValueError(f"an expression must be a string of at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.replace("~", "-").replace("^", "**"), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"cannot parse {text!r}: {err.msg}") from None
    return _convert(tree.body, symbols)


def _convert(node, symbols):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return sympy.Float(node.value) if isinstance(node.value, float) else sympy.Integer(node.value)
    if isinstance(node, ast.Name):
        if node.id in symbols:
            return symbols[node.id]
        if node.id == "pi":
            return sympy.pi
        raise ValueError(f"unknown name {node.id!r}; allowed: {', '.join(sorted(symbols))}, pi")
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        return BINARY[type(node.op)](_convert(node.left, symbols), _convert(node.right, symbols))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _convert(node.operand, symbols)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS \
            and not node.keywords:
        return FUNCTIONS[node.func.id](*[_convert(a, symbols) for a in node.args])
    raise ValueError(f"unsupported syntax: {ast.dump(node)[:80]}")
