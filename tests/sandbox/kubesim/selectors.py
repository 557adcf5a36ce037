"""Label and field selectors, parsed and matched as kube-apiserver does (k8s.io/apimachinery labels and fields).

The error messages are the apiserver's, which the server answers with 400 BadRequest:
`unable to parse requirement: <nil>: Invalid value: "app:web": name part must consist of ...`,
`field label not supported: spec.foo`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any


class SelectorError(ValueError):
    """A selector that does not parse or is not valid; the message is the apiserver's."""


# Requirement operators, spelled as k8s.io/apimachinery/pkg/selection spells them.
IN = 'in'
NOT_IN = 'notin'
EQUALS = '='
DOUBLE_EQUALS = '=='
NOT_EQUALS = '!='
EXISTS = 'exists'
DOES_NOT_EXIST = '!'
GREATER_THAN = 'gt'
LESS_THAN = 'lt'

_INT64 = re.compile(r'[+-]?[0-9]+')
_INT64_RANGE = range(-2 ** 63, 2 ** 63)


def _parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if value in _INT64_RANGE else None


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One label requirement: `key` `operator` `values`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a set of labels satisfies the requirement (a `!=` or `notin` key that is absent does)."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and value in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or value not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        # GREATER_THAN, LESS_THAN: both sides must be integers
        number = _parse_int(value) if isinstance(value, str) else None
        bound = _parse_int(self.values[0]) if len(self.values) == 1 else None
        if number is None or bound is None:
            return False
        return number > bound if self.operator == GREATER_THAN else number < bound

    def __str__(self) -> str:
        if self.operator == DOES_NOT_EXIST:
            return '!' + self.key
        if self.operator == EXISTS:
            return self.key
        values = ','.join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f'{self.key} {self.operator} ({values})'
        return self.key + {GREATER_THAN: '>', LESS_THAN: '<'}.get(self.operator, self.operator) + values


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    """Requirements that must all hold (sorted by key, as the apiserver keeps them); none matches every object."""

    requirements: tuple[Requirement, ...] = ()
    match_nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        """The selector that matches every object."""
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        """The selector that matches no object (what a nil LabelSelector means)."""
        return cls(match_nothing=True)

    @property
    def empty(self) -> bool:
        """Whether the selector matches everything."""
        return not self.requirements and not self.match_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        if self.match_nothing:
            return False
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ','.join(str(requirement) for requirement in self.requirements)


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a `labelSelector` query parameter: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`,
    `k>1`, `k<1`, joined by commas (AND). An empty string selects everything."""
    return LabelSelector(_sorted(_Parser(text).parse()))


def label_selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """The selector of a metav1.LabelSelector object (`matchLabels` and `matchExpressions`).

    As metav1.LabelSelectorAsSelector: None (a nil selector, e.g. a PodDisruptionBudget without one) matches
    nothing; `{}` (an empty selector) matches everything. The caller decides which it has.
    """
    if spec is None:
        return LabelSelector.nothing()
    if not isinstance(spec, Mapping):
        raise SelectorError(f'a label selector must be an object, not {json.dumps(spec, default=str)}')
    match_labels = spec.get('matchLabels') or {}
    expressions = spec.get('matchExpressions') or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list) or not all(isinstance(item, Mapping) for item in expressions):
        raise SelectorError('matchLabels must be an object and matchExpressions a list of objects')
    if not match_labels and not expressions:
        return LabelSelector.everything()
    requirements = [_new_requirement(key, EQUALS, (value,)) for key, value in match_labels.items()]
    operators = {'In': IN, 'NotIn': NOT_IN, 'Exists': EXISTS, 'DoesNotExist': DOES_NOT_EXIST}
    for expression in expressions:
        operator = operators.get(expression.get('operator'))
        if operator is None:
            raise SelectorError(f'{json.dumps(expression.get("operator"))} is not a valid label selector operator')
        values = expression.get('values') or []
        if not isinstance(values, list):
            raise SelectorError(f'the values of a matchExpressions requirement must be a list, not {json.dumps(values, default=str)}')
        requirements.append(_new_requirement(expression.get('key', ''), operator, tuple(values)))
    return LabelSelector(_sorted(requirements))


def label_selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """The selector matching exactly these labels, as for a Service's or ReplicationController's `spec.selector` map.

    An empty or missing map matches everything (a Service without a selector is the caller's special case).
    """
    return LabelSelector(_sorted([_new_requirement(key, EQUALS, (value,)) for key, value in (labels or {}).items()]))


def _sorted(requirements: Sequence[Requirement]) -> tuple[Requirement, ...]:
    return tuple(sorted(requirements, key=lambda requirement: requirement.key))


# --- validation, with the apiserver's messages -----------------------------------------------------------------------

_NAME_FORMAT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'
_NAME = re.compile(_NAME_FORMAT)
_NAME_MESSAGE = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
_LABEL_VALUE_FORMAT = f'({_NAME_FORMAT})?'
_LABEL_VALUE_MESSAGE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                        'and must start and end with an alphanumeric character')
_SUBDOMAIN_FORMAT = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'
_SUBDOMAIN = re.compile(_SUBDOMAIN_FORMAT)
_SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                      'and must start and end with an alphanumeric character')


def _regex_error(message: str, regex: str, *examples: str) -> str:
    """validation.RegexError, double spaces and all."""
    shown = ' or '.join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{regex}')"


def _qualified_name_errors(value: str) -> list[str]:
    """validation.IsQualifiedName: an optional DNS subdomain prefix and '/', then a name of at most 63 characters."""
    parts = value.split('/')
    if len(parts) > 2:
        return ['a qualified name ' + _regex_error(_NAME_MESSAGE, _NAME_FORMAT, 'MyName', 'my.name', '123-abc')
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errors = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append('prefix part must be non-empty')
        else:
            if len(prefix) > 253:
                errors.append('prefix part must be no more than 253 characters')
            if not _SUBDOMAIN.fullmatch(prefix):
                errors.append('prefix part ' + _regex_error(_SUBDOMAIN_MESSAGE, _SUBDOMAIN_FORMAT, 'example.com'))
    name = parts[-1]
    if not name:
        errors.append('name part must be non-empty')
    elif len(name) > 63:
        errors.append('name part must be no more than 63 characters')
    if not _NAME.fullmatch(name):
        errors.append('name part ' + _regex_error(_NAME_MESSAGE, _NAME_FORMAT, 'MyName', 'my.name', '123-abc'))
    return errors


def _label_value_errors(value: str) -> list[str]:
    """validation.IsValidLabelValue."""
    errors = []
    if len(value) > 63:
        errors.append('must be no more than 63 characters')
    if not _NAME.fullmatch(value) and value:
        errors.append(_regex_error(_LABEL_VALUE_MESSAGE, _LABEL_VALUE_FORMAT, 'MyValue', 'my_value', '12345'))
    return errors


def _invalid(path: str, value: Any, detail: str) -> str:
    """field.Invalid(path, value, detail).Error()."""
    if isinstance(value, (list, tuple)):
        shown = '[]string{' + ', '.join(json.dumps(item) for item in value) + '}'
    else:
        shown = json.dumps(value)
    return f'{path}: Invalid value: {shown}: {detail}'


def _key_error(key: Any, path: str) -> str | None:
    if not isinstance(key, str):
        return _invalid(path, key, 'must be a string')
    errors = _qualified_name_errors(key)
    return _invalid(path, key, '; '.join(errors)) if errors else None


def _new_requirement(key: Any, operator: str, values: tuple) -> Requirement:
    """labels.NewRequirement: validate the key, the number of values for the operator and each value."""
    errors = []
    key_error = _key_error(key, 'key')
    if key_error:
        errors.append(key_error)
    if operator in (IN, NOT_IN) and not values:
        errors.append(_invalid('values', values, "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        errors.append(_invalid('values', values, 'exact-match compatibility requires one single value'))
    elif operator in (EXISTS, DOES_NOT_EXIST) and values:
        errors.append(_invalid('values', values, 'values set must be empty for exists and does not exist'))
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errors.append(_invalid('values', values, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for index, value in enumerate(values):
            if not isinstance(value, str) or _parse_int(value) is None:
                errors.append(_invalid(f'values[{index}]', value, "for 'Gt', 'Lt' operators, the value must be an integer"))
    for index, value in enumerate(values):
        if not isinstance(value, str):
            errors.append(_invalid(f'values[{index}][{key}]', value, 'must be a string'))
        elif _label_value_errors(value):
            errors.append(_invalid(f'values[{index}][{key}]', value, '; '.join(_label_value_errors(value))))
    if errors:
        unique = list(dict.fromkeys(errors))
        raise SelectorError(unique[0] if len(unique) == 1 else '[' + ', '.join(unique) + ']')
    return Requirement(key, operator, tuple(values))


# --- the label selector parser (labels.Parse) ------------------------------------------------------------------------

class _Token(enum.Enum):
    IDENTIFIER = 'identifier'
    END = 'end of string'
    OPEN = '('
    CLOSE = ')'
    COMMA = ','
    NOT = '!'
    EQUALS = '='
    DOUBLE_EQUALS = '=='
    NOT_EQUALS = '!='
    GREATER_THAN = '>'
    LESS_THAN = '<'
    IN = 'in'
    NOT_IN = 'notin'


_LITERALS = {token.value: token for token in _Token if token not in (_Token.IDENTIFIER, _Token.END)}
_SPECIAL = frozenset('=!(),<>')
_WHITESPACE = frozenset(' \t\r\n')
_BINARY_OPERATORS = {
    _Token.IN: IN, _Token.NOT_IN: NOT_IN, _Token.EQUALS: EQUALS, _Token.DOUBLE_EQUALS: DOUBLE_EQUALS,
    _Token.NOT_EQUALS: NOT_EQUALS, _Token.GREATER_THAN: GREATER_THAN, _Token.LESS_THAN: LESS_THAN,
}


class _ParseError(Exception):
    """A requirement that does not parse (reported as `unable to parse requirement: ...`)."""


def _lex(text: str) -> list[tuple[_Token, str]]:
    """The tokens of a selector, ending with END: runs of operator characters are split into the longest literals."""
    tokens = []
    position = 0
    while True:
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        if position == len(text):
            tokens.append((_Token.END, ''))
            return tokens
        end = position + 1
        if text[position] in _SPECIAL:
            # every operator character alone is a literal; extend while the longer run still is one
            while end < len(text) and text[end] in _SPECIAL and text[position:end + 1] in _LITERALS:
                end += 1
        else:
            while end < len(text) and text[end] not in _SPECIAL and text[end] not in _WHITESPACE:
                end += 1
        literal = text[position:end]
        tokens.append((_LITERALS.get(literal, _Token.IDENTIFIER), literal))
        position = end


class _Parser:
    """labels.Parser: a recursive descent over the tokens, with the apiserver's error messages."""

    def __init__(self, text: str) -> None:
        self._tokens = _lex(text)
        self._position = 0

    def _lookahead(self, values: bool = True) -> tuple[_Token, str]:
        """The next token; where a value is expected, `in` and `notin` are identifiers."""
        token, literal = self._tokens[self._position]
        if values and token in (_Token.IN, _Token.NOT_IN):
            token = _Token.IDENTIFIER
        return token, literal

    def _consume(self, values: bool = True) -> tuple[_Token, str]:
        result = self._lookahead(values)
        self._position = min(self._position + 1, len(self._tokens) - 1)
        return result

    def parse(self) -> list[Requirement]:
        """All the requirements, or SelectorError."""
        requirements = []
        while True:
            token, literal = self._lookahead()
            if token == _Token.END:
                return requirements
            if token not in (_Token.IDENTIFIER, _Token.NOT):
                raise SelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except (_ParseError, SelectorError) as err:
                raise SelectorError(f'unable to parse requirement: {err}') from None
            token, literal = self._consume()
            if token == _Token.END:
                return requirements
            if token != _Token.COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self._lookahead()
            if token not in (_Token.IDENTIFIER, _Token.NOT):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        key, operator = self._key_and_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(key, operator, ())
        token, literal = self._consume(values=False)
        if token not in _BINARY_OPERATORS:
            raise _ParseError(f"found '{literal}', expected: in, notin, =, ==, !=, gt, lt")
        operator = _BINARY_OPERATORS[token]
        values = self._values() if operator in (IN, NOT_IN) else self._exact_value()
        return _new_requirement(key, operator, tuple(sorted(values)))

    def _key_and_operator(self) -> tuple[str, str]:
        """The key, and EXISTS or DOES_NOT_EXIST when the requirement is just `key` or `!key` ('' otherwise)."""
        operator = ''
        token, literal = self._consume()
        if token == _Token.NOT:
            operator = DOES_NOT_EXIST
            token, literal = self._consume()
        if token != _Token.IDENTIFIER:
            raise _ParseError(f"found '{literal}', expected: identifier")
        key_error = _key_error(literal, '<nil>')
        if key_error:
            raise _ParseError(key_error)
        if not operator and self._lookahead()[0] in (_Token.END, _Token.COMMA):
            operator = EXISTS
        return literal, operator

    def _values(self) -> set[str]:
        """`(a,b)`; empty items (`()`, `(a,)`) are the empty value."""
        token, literal = self._consume()
        if token != _Token.OPEN:
            raise _ParseError(f"found '{literal}' expected: '('")
        token, literal = self._lookahead()
        if token == _Token.CLOSE:
            self._consume()
            return {''}
        if token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise _ParseError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifiers()
        token = self._consume()[0]
        if token != _Token.CLOSE:
            raise _ParseError(f"found '{literal}', expected: ')'")
        return values

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            token, literal = self._consume()
            if token == _Token.IDENTIFIER:
                values.add(literal)
                following, following_literal = self._lookahead()
                if following == _Token.CLOSE:
                    return values
                if following != _Token.COMMA:
                    raise _ParseError(f"found '{following_literal}', expected: ',' or ')'")
            elif token == _Token.COMMA:
                if not values:
                    values.add('')  # "(,"
                following = self._lookahead()[0]
                if following == _Token.CLOSE:
                    values.add('')  # ",)"
                    return values
                if following == _Token.COMMA:
                    self._consume()
                    values.add('')  # ",,"
            else:
                raise _ParseError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> set[str]:
        if self._lookahead()[0] in (_Token.END, _Token.COMMA):
            return {''}
        token, literal = self._consume()
        if token != _Token.IDENTIFIER:
            raise _ParseError(f"found '{literal}', expected: identifier")
        return {literal}


# --- field selectors (fields.ParseSelector) --------------------------------------------------------------------------

# Field labels the apiserver does not read from the same-named JSON path: the paths it reads, first non-empty wins.
_FIELD_PATHS = {
    'status.successful': ('status.succeeded',),
    'source': ('source.component', 'reportingComponent'),
}
# Field labels of Go booleans and integers: an absent value reads as the Go zero value, not as "".
_FIELD_ZERO_VALUES = {'spec.unschedulable': 'false', 'spec.hostNetwork': 'false', 'status.replicas': '0', 'status.successful': '0'}


@dataclasses.dataclass(frozen=True)
class FieldRequirement:
    """`field=value` (operator '=', which `==` also parses to) or `field!=value`."""

    field: str
    operator: str
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's value of the field satisfies the requirement."""
        return (field_value(obj, self.field) == self.value) == (self.operator == EQUALS)

    def __str__(self) -> str:
        escaped = self.value.replace('\\', '\\\\').replace(',', '\\,').replace('=', '\\=')
        return f'{self.field}{self.operator}{escaped}'


@dataclasses.dataclass(frozen=True)
class FieldSelector:
    """Field requirements that must all hold; none matches every object."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the selector matches everything."""
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object is selected."""
        return all(requirement.matches(obj) for requirement in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """The value the selector requires `field` to equal, if it has such a requirement (RequiresExactMatch)."""
        for requirement in self.requirements:
            if requirement.field == field and requirement.operator == EQUALS:
                return requirement.value
        return None

    def single_name(self) -> str | None:
        """The name when the selector is exactly `metadata.name=<name>` (how kubectl gets or watches one object)."""
        if len(self.requirements) == 1:
            return self.requires_exact_match('metadata.name')
        return None

    def __str__(self) -> str:
        return ','.join(str(requirement) for requirement in self.requirements)


def parse_field_selector(text: str, supported: Collection[str] | None = None) -> FieldSelector:
    """Parse a `fieldSelector` query parameter: `field=value`, `field==value`, `field!=value`, joined by commas (AND).

    Values may escape `\\`, `,` and `=` with a backslash. Nothing is trimmed: `a = b` is the field `a ` with
    the value ` b`, as in the apiserver. Every field must be in `supported` (when given), else
    SelectorError('field label not supported: <field>'). An empty string selects everything.
    """
    requirements = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, raw = split
        requirements.append(FieldRequirement(field, NOT_EQUALS if operator == NOT_EQUALS else EQUALS, _unescape(raw)))
    if supported is not None:
        for requirement in requirements:
            if requirement.field not in supported:
                raise SelectorError(f'field label not supported: {requirement.field}')
    return FieldSelector(tuple(requirements))


def field_value(obj: Mapping[str, Any], field: str) -> str:
    """The value of a field label of an object, as a string: absent is "" (or the Go zero value), booleans "true"/"false"."""
    for path in _FIELD_PATHS.get(field, (field,)):
        value: Any = obj
        for part in path.split('.'):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, bool):
            return 'true' if value else 'false'
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, str) and value:
            return value
    return _FIELD_ZERO_VALUES.get(field, '')


def _split_terms(text: str) -> list[str]:
    """The comma-separated terms; a backslash-escaped comma is part of its term."""
    terms = []
    start = 0
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == '\\':
            escaped = True
        elif char == ',':
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """(field, operator, raw value) split at the first `!=`, `==` or `=` (a field cannot escape them), or None."""
    for index in range(len(term)):
        for operator in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator):]
    return None


def _unescape(value: str) -> str:
    """fields.UnescapeValue: `\\\\`, `\\,` and `\\=` are the characters; any other escape, or a bare `,` or `=`, is an error."""
    result = []
    escaped = False
    for char in value:
        if escaped:
            if char not in '\\,=':
                raise SelectorError(f'invalid field selector: invalid escape sequence: \\{char}')
            result.append(char)
            escaped = False
        elif char == '\\':
            escaped = True
        elif char in ',=':
            raise SelectorError(f'invalid field selector: unescaped character in value: {char}')
        else:
            result.append(char)
    if escaped:
        raise SelectorError('invalid field selector: invalid escape sequence: \\')
    return ''.join(result)
