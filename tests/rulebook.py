"""A test-only evaluator of the subset of ansible-rulebook that extensions/eda/rulebooks/alerts.yml uses.

ansible-rulebook (and its Drools engine) and the ansible.eda collection cannot
be installed here. This follows their documentation and the
ansible.eda.alertmanager source plugin's code:

- source ``ansible.eda.alertmanager``: one event per alert of a webhook
  payload, ``{"alert": <alert>, "meta": {"endpoint", "headers", "hosts"}}``,
  the host from ``data_host_path`` without its port; unless
  ``skip_original_data``, first the whole payload as ``{"payload": ..., "meta": ...}``;
- conditions (single condition only): ``event.`` paths (dots, ``["key"]``),
  string, number, boolean and null literals, lists, ``== != < <= > >=``,
  ``in``/``not in``, ``is defined``/``is not defined``, ``and``/``or``/``not``,
  parentheses. A comparison with a missing attribute does not match.
  Anything else is refused, so the test fails when the rulebook outgrows it;
- rules are tried in order and the first that matches takes the event
  (``match_multiple_rules`` false, the default);
- ``throttle.once_within`` with ``group_by_attributes``: the first match of a
  group runs the action, further matches of the group are suppressed until
  the window (counted from that first match) has passed;
- ``run_playbook`` with ``extra_vars`` rendered with Jinja2, ``event`` in scope.

It is not a runtime feature of the collection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jinja2

UNITS = {'millisecond': 0.001, 'second': 1, 'minute': 60, 'hour': 3600, 'day': 86400}
TOKEN = re.compile(r'''
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    | (?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\["[^"]*"\]|\['[^']*'\])*)
    )''', re.VERBOSE)
KEYWORDS = {'and', 'or', 'not', 'in', 'is', 'defined', 'true', 'false', 'null'}


class Unsupported(Exception):
    """Syntax the evaluator does not implement."""


class _Undefined:
    def __repr__(self) -> str:
        return 'Undefined'


UNDEFINED = _Undefined()


def seconds(text: str) -> float:
    """'15 minutes' -> 900.0."""
    match = re.fullmatch(r'\s*(\d+)\s+(millisecond|second|minute|hour|day)s?\s*', text)
    if not match:
        raise Unsupported('time %r' % text)
    return int(match.group(1)) * UNITS[match.group(2)]


def lookup(data: dict[str, Any], path: str) -> Any:
    """``event.alert.labels["a.b"]`` in ``{'event': ...}``; UNDEFINED when any part is missing."""
    parts = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)|\["([^"]*)"\]|\[\'([^\']*)\'\]', path)
    value: Any = data
    for name, quoted, single in parts:
        key = name or quoted or single
        if not isinstance(value, dict) or key not in value:
            return UNDEFINED
        value = value[key]
    return value


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise Unsupported('condition syntax at %r' % text[pos:])
        kind = match.lastgroup
        value = match.group(kind)
        if kind == 'path' and value in KEYWORDS:
            kind = value
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class Condition:
    """A parsed single condition; ``matches(event)``."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise Unsupported('trailing %r in %r' % (self.tokens[self.pos:], text))

    # -- parser (recursive descent) --
    def _peek(self, offset: int = 0) -> str | None:
        index = self.pos + offset
        return self.tokens[index][0] if index < len(self.tokens) else None

    def _take(self, kind: str) -> str:
        if self._peek() != kind:
            raise Unsupported('expected %s at token %d of %r' % (kind, self.pos, self.text))
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def _or(self):
        node = self._and()
        while self._peek() == 'or':
            self.pos += 1
            node = ('or', node, self._and())
        return node

    def _and(self):
        node = self._not()
        while self._peek() == 'and':
            self.pos += 1
            node = ('and', node, self._not())
        return node

    def _not(self):
        if self._peek() == 'not':
            self.pos += 1
            return ('not', self._not())
        return self._comparison()

    def _comparison(self):
        left = self._operand()
        kind = self._peek()
        if kind == 'op' and self.tokens[self.pos][1] in ('==', '!=', '<', '<=', '>', '>='):
            op = self._take('op')
            return ('cmp', op, left, self._operand())
        if kind == 'in':
            self.pos += 1
            return ('in', left, self._operand())
        if kind == 'not' and self._peek(1) == 'in':
            self.pos += 2
            return ('not', ('in', left, self._operand()))
        if kind == 'is':
            self.pos += 1
            negate = self._peek() == 'not'
            self.pos += negate
            self._take('defined')
            node = ('defined', left)
            return ('not', node) if negate else node
        return ('truthy', left)

    def _operand(self):
        kind = self._peek()
        if kind == 'op' and self.tokens[self.pos][1] == '(':
            self.pos += 1
            node = self._or()
            if self._take('op') != ')':
                raise Unsupported('unbalanced parentheses in %r' % self.text)
            return ('group', node)
        if kind == 'op' and self.tokens[self.pos][1] == '[':
            self.pos += 1
            items = []
            while not (self._peek() == 'op' and self.tokens[self.pos][1] == ']'):
                items.append(self._operand())
                if self._peek() == 'op' and self.tokens[self.pos][1] == ',':
                    self.pos += 1
            self.pos += 1
            return ('list', items)
        if kind == 'string':
            raw = self._take('string')
            return ('lit', raw[1:-1].encode().decode('unicode_escape'))
        if kind == 'number':
            raw = self._take('number')
            return ('lit', float(raw) if '.' in raw else int(raw))
        if kind in ('true', 'false', 'null'):
            self.pos += 1
            return ('lit', {'true': True, 'false': False, 'null': None}[kind])
        if kind == 'path':
            path = self._take('path')
            if not path.startswith('event.'):
                raise Unsupported('only event.* attributes are supported, not %r' % path)
            return ('path', path)
        raise Unsupported('operand at token %d of %r' % (self.pos, self.text))

    # -- evaluation --
    def matches(self, event: dict[str, Any]) -> bool:
        return self._eval(self.tree, {'event': event}) is True

    def _value(self, node, scope):
        kind = node[0]
        if kind == 'lit':
            return node[1]
        if kind == 'path':
            return lookup(scope, node[1])
        if kind == 'list':
            return [self._value(item, scope) for item in node[1]]
        return self._eval(node[1] if kind == 'group' else node, scope)

    def _eval(self, node, scope) -> bool:
        kind = node[0]
        if kind == 'group':
            return self._eval(node[1], scope)
        if kind == 'or':
            return self._eval(node[1], scope) or self._eval(node[2], scope)
        if kind == 'and':
            return self._eval(node[1], scope) and self._eval(node[2], scope)
        if kind == 'not':
            return not self._eval(node[1], scope)
        if kind == 'defined':
            return self._value(node[1], scope) is not UNDEFINED
        if kind == 'truthy':
            return self._value(node[1], scope) is True
        if kind == 'in':
            left, right = self._value(node[1], scope), self._value(node[2], scope)
            return left is not UNDEFINED and isinstance(right, list) and left in right
        if kind == 'cmp':
            left, right = self._value(node[2], scope), self._value(node[3], scope)
            if left is UNDEFINED or right is UNDEFINED:
                return False
            op = node[1]
            if op in ('==', '!='):
                return (left == right) == (op == '==')
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)):
                return False
            return {'<': left < right, '<=': left <= right, '>': left > right, '>=': left >= right}[op]
        raise Unsupported(kind)


@dataclass
class Launch:
    """An action the engine would run: the rule, the playbook and its extra vars."""

    rule: str
    playbook: str
    extra_vars: dict[str, Any]
    at: float


@dataclass
class Rule:
    name: str
    condition: Condition
    action: dict[str, Any]
    once_within: float | None = None
    group_by: list[str] = field(default_factory=list)


class Ruleset:
    """One ruleset of a rulebook, fed events with their arrival time (a fake clock: seconds)."""

    def __init__(self, ruleset: dict[str, Any]):
        unknown = set(ruleset) - {'name', 'hosts', 'sources', 'rules', 'match_multiple_rules'}
        if unknown or ruleset.get('match_multiple_rules'):
            raise Unsupported('ruleset keys %s' % (unknown or 'match_multiple_rules'))
        self.name = ruleset['name']
        self.sources = ruleset['sources']
        self.rules = []
        for rule in ruleset['rules']:
            if not isinstance(rule['condition'], str):
                raise Unsupported('multiple conditions (all/any/not_all) in rule %r' % rule['name'])
            if set(rule) - {'name', 'condition', 'action', 'throttle', 'enabled'}:
                raise Unsupported('rule keys %s' % (set(rule) - {'name', 'condition', 'action', 'throttle', 'enabled'}))
            if rule.get('enabled', True) is False:
                continue
            throttle = rule.get('throttle') or {}
            if set(throttle) - {'once_within', 'group_by_attributes'}:
                raise Unsupported('throttle %s' % sorted(throttle))
            if throttle and not throttle.get('group_by_attributes'):
                raise Unsupported('once_within needs group_by_attributes')
            self.rules.append(Rule(rule['name'], Condition(rule['condition']), rule['action'],
                                   seconds(throttle['once_within']) if throttle else None,
                                   list(throttle.get('group_by_attributes', []))))
        self._fired: dict[tuple[str, tuple[Any, ...]], float] = {}
        self._jinja = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def alertmanager_events(self, payload: dict[str, Any], endpoint: str = 'alerts',
                            headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """What the ruleset's ansible.eda.alertmanager source puts on the queue for one webhook payload."""
        [source] = [s for s in self.sources if 'ansible.eda.alertmanager' in s]
        args = source['ansible.eda.alertmanager'] or {}
        alerts_path, host_path = args.get('data_alerts_path', 'alerts'), args.get('data_host_path', 'labels.instance')
        separator = args.get('data_path_separator', '.')
        meta = {'endpoint': endpoint, 'headers': dict(headers or {})}
        events = [] if args.get('skip_original_data', False) else [{'payload': payload, 'meta': meta}]
        alerts: Any = [payload] if not alerts_path else _dpath(payload, alerts_path, separator)
        if alerts is UNDEFINED:
            alerts = []
        for alert in alerts if isinstance(alerts, list) else [alerts]:
            host = _dpath(alert, host_path, separator) if host_path else UNDEFINED
            hosts = [] if host is UNDEFINED or host is None else [str(host).split(':', maxsplit=1)[0]]
            events.append({'alert': alert, 'meta': dict(meta, hosts=hosts)})
        return events

    def process(self, event: dict[str, Any], now: float) -> Launch | None:
        """The action run for this event at time ``now``: None when no rule matched or the throttle held it."""
        for rule in self.rules:
            if not rule.condition.matches(event):
                continue
            if rule.once_within is not None:
                key = (rule.name, tuple(repr(lookup({'event': event}, path)) for path in rule.group_by))
                first = self._fired.get(key)
                if first is not None and now - first < rule.once_within:
                    return None  # matched, and consumed: later rules do not see it
                self._fired[key] = now
            return self._launch(rule, event, now)
        return None

    def _launch(self, rule: Rule, event: dict[str, Any], now: float) -> Launch:
        if set(rule.action) != {'run_playbook'}:
            raise Unsupported('action %s' % sorted(rule.action))
        action = rule.action['run_playbook']
        extra_vars = {name: self._jinja.from_string(value).render(event=event) if isinstance(value, str) else value
                      for name, value in (action.get('extra_vars') or {}).items()}
        return Launch(rule.name, action['name'], extra_vars, now)


def _dpath(data: Any, path: str, separator: str) -> Any:
    for key in path.split(separator):
        if not isinstance(data, dict) or key not in data:
            return UNDEFINED
        data = data[key]
    return data
