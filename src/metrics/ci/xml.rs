//! A small element walker over quick-xml shared by the JUnit and Cobertura
//! parsers: it reports every element with its ancestors and line, and turns
//! malformed or truncated documents into one error naming the file and line.

use anyhow::{anyhow, bail, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One element as the walker hands it over.
pub struct Element<'a, 'e> {
    pub start: &'e BytesStart<'a>,
    /// Local names of the enclosing elements, outermost first.
    pub ancestors: &'e [Vec<u8>],
    pub line: usize,
    file: &'e str,
}

impl Element<'_, '_> {
    pub fn name(&self) -> Vec<u8> {
        self.start.local_name().as_ref().to_vec()
    }

    pub fn is(&self, name: &str) -> bool {
        self.start.local_name().as_ref() == name.as_bytes()
    }

    pub fn parent_is(&self, name: &str) -> bool {
        self.ancestors.last().is_some_and(|p| p == name.as_bytes())
    }

    pub fn inside(&self, name: &str) -> bool {
        self.ancestors.iter().any(|p| p == name.as_bytes())
    }

    /// `file:line` of this element, for messages.
    pub fn here(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// An attribute's unescaped value (matched by local name).
    pub fn attr(&self, name: &str) -> Result<Option<String>> {
        for attr in self.start.attributes() {
            let attr = attr.map_err(|e| anyhow!("{}: malformed attribute: {e}", self.here()))?;
            if attr.key.local_name().as_ref() == name.as_bytes() {
                let value = attr
                    .unescape_value()
                    .map_err(|e| anyhow!("{}: attribute {name}: {e}", self.here()))?;
                return Ok(Some(value.into_owned()));
            }
        }
        Ok(None)
    }

    /// A numeric attribute; present but not a number is an error naming it.
    pub fn num_attr(&self, name: &str) -> Result<Option<f64>> {
        match self.attr(name)? {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => Ok(None),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Some(n)),
                _ => bail!(
                    "{}: <{}> attribute {name}={v:?} is not a number",
                    self.here(),
                    self.tag()
                ),
            },
        }
    }

    /// A count attribute: a whole number ≥ 0.
    /// Counts above this are refused (every whole number up to it is exact in an f64).
    pub fn count_attr(&self, name: &str) -> Result<Option<u64>> {
        match self.num_attr(name)? {
            None => Ok(None),
            // Past 2^53 an f64 no longer holds every whole number: a count that big
            // is a broken report, not a test suite.
            Some(n) if n > MAX_COUNT => bail!(
                "{}: <{}> attribute {name}={} is too large a count (more than {MAX_COUNT})",
                self.here(),
                self.tag(),
                self.attr(name)?.unwrap_or_default()
            ),
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as u64)),
            Some(n) => bail!(
                "{}: <{}> attribute {name}={n} is not a count",
                self.here(),
                self.tag()
            ),
        }
    }

    fn tag(&self) -> String {
        String::from_utf8_lossy(self.start.local_name().as_ref()).into_owned()
    }
}

/// The largest count a report attribute may declare.
const MAX_COUNT: f64 = 9_007_199_254_740_992.0;

/// Walk every element of `text` (the content of `file`) in document order.
/// Returns the root element's local name; a document without one is an error.
pub fn walk(
    file: &str,
    text: &str,
    mut on_element: impl FnMut(&Element<'_, '_>) -> Result<()>,
) -> Result<String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut lines = LineCounter::new(text);
    let mut root: Option<String> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            let line = line_of(text, reader.error_position());
            anyhow!("{file}:{line}: malformed XML: {e}")
        })?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let line = lines.at(pos);
                let name = start.local_name().as_ref().to_vec();
                if names.is_empty() {
                    if root.is_some() {
                        bail!("{file}:{line}: malformed XML: a second root element after the first one closed");
                    }
                    root = Some(String::from_utf8_lossy(&name).into_owned());
                }
                on_element(&Element {
                    start,
                    ancestors: &names,
                    line,
                    file,
                })?;
                if matches!(event, Event::Start(_)) {
                    names.push(name.clone());
                    stack.push((name, line));
                }
            }
            Event::End(_) => {
                stack.pop();
                names.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some((name, line)) = stack.last() {
        bail!(
            "{file}: truncated: <{}> opened at line {line} is never closed",
            String::from_utf8_lossy(name)
        );
    }
    root.ok_or_else(|| anyhow!("{file}: no XML element found (not an XML file?)"))
}

/// The 1-based line of byte offset `pos`.
pub fn line_of(text: &str, pos: u64) -> usize {
    let end = (pos as usize).min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Lines of increasing offsets without rescanning from the start each time.
struct LineCounter<'t> {
    bytes: &'t [u8],
    pos: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t str) -> Self {
        LineCounter {
            bytes: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    fn at(&mut self, pos: u64) -> usize {
        let pos = (pos as usize).min(self.bytes.len());
        if pos > self.pos {
            self.line += self.bytes[self.pos..pos]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.pos = pos;
        }
        self.line
    }
}
