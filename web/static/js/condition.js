// The condition text editor: a textarea over a backdrop that marks every
// diagnostic at its line and column, line numbers, and suggestions of
// attributes, functions and operators for the word at the caret.
import { h, button, put } from './dom.js';

const KEYWORDS = ['and', 'or', 'like', 'matches'];

const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// span returns [start, end) of the text a diagnostic points at on its line.
function span(line, col, message) {
  const start = Math.min(Math.max(col - 1, 0), line.length);
  if (/string/i.test(message)) return [start, Math.max(line.length, start + 1)];
  const m = line.slice(start).match(/^[\w@.]+|^\S/);
  return [start, start + (m ? m[0].length : 1)];
}

export function conditionEditor({ value, onchange, words }) {
  const textarea = h('textarea', { id: 'condition', spellcheck: 'false', rows: 6, autocomplete: 'off',
    'aria-describedby': 'diagnostics', autocapitalize: 'off' });
  textarea.value = value || '';
  const backdrop = h('pre', { class: 'backdrop', 'aria-hidden': 'true' });
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const sugg = h('ul', { class: 'suggestions', id: 'suggestions', 'aria-label': 'Suggestions' });
  let diags = [];

  function paint() {
    const lines = textarea.value.split('\n');
    gutter.textContent = lines.map((_, i) => i + 1).join('\n');
    const byLine = new Map();
    for (const d of diags) {
      if (d.field && d.field !== 'condition') continue;
      if (!byLine.has(d.line)) byLine.set(d.line, []);
      byLine.get(d.line).push(d);
    }
    backdrop.innerHTML = lines.map((line, i) => {
      const ds = byLine.get(i + 1);
      if (!ds) return esc(line);
      const d = ds[0];
      const [a, b] = span(line, d.column, d.message);
      const marked = line.slice(a, b) || ' ';
      return `${esc(line.slice(0, a))}<mark class="${d.severity === 'warning' ? 'warning' : 'error'}" data-line="${d.line}" data-column="${d.column}">${esc(marked)}</mark>${esc(line.slice(b))}`;
    }).join('\n') + '\n';
    backdrop.scrollTop = textarea.scrollTop;
    gutter.scrollTop = textarea.scrollTop;
  }

  // The word being typed: letters, dots, @ and an opening quote-less run.
  function current() {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const m = before.match(/[\w@.]*$/);
    return m ? m[0] : '';
  }

  function suggest() {
    const w = current();
    put(sugg, );
    if (w.length < 2 && !w.endsWith('.')) return;
    const lw = w.toLowerCase();
    const all = [...words(), ...KEYWORDS];
    const hits = all.filter((s) => s.toLowerCase().startsWith(lw) && s.toLowerCase() !== lw).slice(0, 8);
    // Functions after a path: "resource.Has" → resource.HasPrivilege("read").
    const dot = w.lastIndexOf('.');
    if (dot > 0) {
      const stem = w.slice(0, dot + 1);
      for (const f of words.functions()) {
        const full = stem + f;
        if (full.toLowerCase().startsWith(lw) && !hits.includes(full) && hits.length < 10) hits.push(full);
      }
    }
    for (const s of hits) {
      sugg.append(h('li', {}, button(s, () => insert(w, s), { class: 'suggestion' })));
    }
  }

  function insert(word, s) {
    const pos = textarea.selectionStart;
    const v = textarea.value;
    textarea.value = v.slice(0, pos - word.length) + s + v.slice(pos);
    const caret = pos - word.length + s.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    put(sugg, );
    changed();
  }

  function changed() { paint(); onchange(textarea.value); }

  textarea.addEventListener('input', () => { changed(); suggest(); });
  textarea.addEventListener('scroll', () => { backdrop.scrollTop = textarea.scrollTop; gutter.scrollTop = textarea.scrollTop; });
  textarea.addEventListener('keydown', (e) => {
    if (e.key === ' ' && e.ctrlKey) { e.preventDefault(); suggest(); sugg.querySelector('button')?.focus(); }
    if (e.key === 'Escape') put(sugg, );
  });
  paint();

  const el = h('div', { class: 'code-editor' },
    h('label', { for: 'condition' }, 'Condition'),
    h('div', { class: 'code' }, gutter, h('div', { class: 'code-body' }, backdrop, textarea)),
    h('small', { class: 'muted' }, 'Type to get suggestions (Ctrl+Space to move to them). Example: user.group = "Sales" and resource.owner = user'),
    sugg);
  return {
    el,
    textarea,
    setDiagnostics(d) { diags = d || []; paint(); },
    // moveTo puts the caret at a line and column.
    moveTo(line, col) {
      const lines = textarea.value.split('\n');
      let pos = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
      pos += Math.max(col - 1, 0);
      textarea.focus();
      textarea.setSelectionRange(pos, pos);
    },
  };
}

// Basic view rows: `attr op "value"` joined by and/or. parseRows answers
// null when the text is more than the Basic view can show.
const ROW = /^\s*((?:user|resource)\.[\w@.]+)\s*(!==|==|!=|=|like)\s*"([^"\\]*)"\s*$/i;

export function parseRows(text) {
  if (!text.trim()) return [];
  const parts = text.split(/\s+(and|or)\s+(?=(?:[^"]*"[^"]*")*[^"]*$)/i);
  const rows = [];
  for (let i = 0; i < parts.length; i += 2) {
    const m = parts[i].match(ROW);
    if (!m) return null;
    rows.push({ join: i ? parts[i - 1].toLowerCase() : 'and', attr: m[1], op: m[2].toLowerCase(), value: m[3] });
  }
  return rows;
}

export function rowsToText(rows) {
  return rows.filter((r) => r.attr).map((r, i) =>
    `${i ? ` ${r.join} ` : ''}${r.attr} ${r.op} "${(r.value || '').replace(/["\\]/g, '')}"`).join('');
}
