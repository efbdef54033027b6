//! Request bodies packed under the API's body cap from JSON values serialized once.
//!
//! The node refuses a body over [`MAX_BODY_BYTES`]. A body here is a JSON object: a head (the
//! request's options, serialized as an object) followed by named arrays. Every element is
//! serialized once, up front; a body's size is then the exact number of bytes that will be
//! sent, so the sender decides what goes into a request by the same bytes the node counts.
//! [`Shape::render`] checks the finished body against the cap as well, so a mistake here fails
//! before sending instead of half way through a run.

use anyhow::{bail, Result};

pub use swapmeet_node::api::MAX_BODY_BYTES;

/// The fixed part of a kind of request: its cap, its head and its arrays.
#[derive(Clone, Debug)]
pub struct Shape {
    cap: usize,
    /// Bytes of everything but the array elements and the commas between them.
    overhead: usize,
    names: Vec<&'static str>,
    /// Most elements per array in one body (the node's per-request count limits).
    max_counts: Vec<usize>,
}

impl Shape {
    /// A shape for bodies of at most `cap` bytes whose head, serialized as a JSON object, is
    /// at most `head_len` bytes, with arrays `(name, most elements per body)` in this order.
    pub fn new(cap: usize, head_len: usize, arrays: &[(&'static str, usize)]) -> Shape {
        // Per array `,"name":[]`; the head's own closing brace is reused for the body's.
        let overhead = head_len + arrays.iter().map(|(name, _)| name.len() + 6).sum::<usize>();
        Shape {
            cap,
            overhead,
            names: arrays.iter().map(|(n, _)| *n).collect(),
            max_counts: arrays.iter().map(|(_, m)| *m).collect(),
        }
    }

    /// The largest element that fits in a body on its own.
    pub fn room(&self) -> usize {
        self.cap.saturating_sub(self.overhead)
    }

    /// An empty body being filled.
    pub fn fill(&self) -> Fill<'_> {
        Fill {
            shape: self,
            size: self.overhead,
            counts: vec![0; self.names.len()],
        }
    }

    /// The body: `head` (a serialized JSON object) with the arrays added. Fails, sending
    /// nothing, if it is over the cap, which [`Fill`] makes impossible for elements it
    /// accepted and a head no longer than the shape's.
    pub fn render(&self, head: &[u8], arrays: &[&[Vec<u8>]]) -> Result<Vec<u8>> {
        let Some((b'}', open)) = head.split_last() else {
            bail!("a request head must be a JSON object");
        };
        let len = open.len()
            + 1
            + arrays
                .iter()
                .zip(&self.names)
                .map(|(a, n)| {
                    n.len() + 5 + a.iter().map(Vec::len).sum::<usize>() + a.len().saturating_sub(1)
                })
                .sum::<usize>()
            + arrays.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(open);
        for (elements, name) in arrays.iter().zip(&self.names) {
            if out.last() != Some(&b'{') {
                out.push(b',');
            }
            out.extend_from_slice(format!("\"{name}\":[").as_bytes());
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(e);
            }
            out.push(b']');
        }
        out.push(b'}');
        if out.len() > self.cap {
            bail!(
                "internal error: a request body came to {} bytes, over the node's limit of {}; nothing was sent",
                out.len(),
                self.cap
            );
        }
        Ok(out)
    }
}

/// The running size of a body being filled.
pub struct Fill<'s> {
    shape: &'s Shape,
    size: usize,
    counts: Vec<usize>,
}

impl Fill<'_> {
    /// Whether an element of `len` bytes still fits in array `array` of this body.
    pub fn fits(&self, array: usize, len: usize) -> bool {
        let comma = usize::from(self.counts[array] > 0);
        self.counts[array] < self.shape.max_counts[array]
            && self.size + len + comma <= self.shape.cap
    }

    /// Counts an element in (after [`Fill::fits`] said yes, or into an empty body).
    pub fn add(&mut self, array: usize, len: usize) {
        self.size += len + usize::from(self.counts[array] > 0);
        self.counts[array] += 1;
    }

    /// Starts the next body.
    pub fn reset(&mut self) {
        self.size = self.shape.overhead;
        self.counts.iter_mut().for_each(|c| *c = 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    /// Fills bodies greedily from `items` then `notes`, the way the bridge does.
    fn bodies(shape: &Shape, head: &[u8], items: &[Vec<u8>], notes: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut fill = shape.fill();
        let (mut i0, mut n0) = (0, 0);
        let mut i = 0;
        let mut n = 0;
        while i < items.len() || n < notes.len() {
            let (array, len) = if i < items.len() {
                (0, items[i].len())
            } else {
                (1, notes[n].len())
            };
            if !fill.fits(array, len) {
                out.push(shape.render(head, &[&items[i0..i], &notes[n0..n]]).unwrap());
                fill.reset();
                (i0, n0) = (i, n);
            }
            fill.add(array, len);
            if array == 0 {
                i += 1;
            } else {
                n += 1;
            }
        }
        out.push(shape.render(head, &[&items[i0..i], &notes[n0..n]]).unwrap());
        out
    }

    #[test]
    fn bodies_are_exactly_measured_and_never_over_the_cap() {
        let head = json(serde_json::json!({"run": {"id": "x", "final": false}, "dry_run": true}));
        // Elements that need escaping: their JSON is far longer than their text.
        let items: Vec<Vec<u8>> = (0..500)
            .map(|i| {
                json(serde_json::json!({"key": format!("k{i}"), "t": "\"\\\n".repeat(i % 20)}))
            })
            .collect();
        let notes: Vec<Vec<u8>> = (0..700)
            .map(|i| json(serde_json::json!({"row": i, "reason": "é\u{1}".repeat(i % 31)})))
            .collect();
        for cap in [600, 2_000, 8_192] {
            let shape = Shape::new(cap, head.len(), &[("items", 50), ("skipped", usize::MAX)]);
            let sent = bodies(&shape, &head, &items, &notes);
            let mut got_items = 0;
            let mut got_notes = 0;
            for b in &sent {
                assert!(b.len() <= cap, "{} > {cap}", b.len());
                let v: serde_json::Value = serde_json::from_slice(b).unwrap();
                assert_eq!(v["dry_run"], true);
                let n = v["items"].as_array().unwrap().len();
                assert!(n <= 50, "the count limit holds");
                got_items += n;
                got_notes += v["skipped"].as_array().unwrap().len();
            }
            assert_eq!(
                (got_items, got_notes),
                (500, 700),
                "nothing lost or repeated"
            );
            // Greedy: every body but the last was closed because the next element did not fit.
            let total: usize = sent.iter().map(Vec::len).sum();
            assert!(
                sent.len() <= total / (cap / 2) + 2,
                "{} bodies for {total} bytes",
                sent.len()
            );
        }
    }

    #[test]
    fn an_element_fits_alone_exactly_when_room_says_so() {
        let head = json(serde_json::json!({"x": 1}));
        let shape = Shape::new(100, head.len(), &[("lines", 10)]);
        let biggest = vec![b'1'; shape.room()];
        let body = shape.render(&head, &[&[biggest]]).unwrap();
        assert!(body.len() <= 100);
        let over = vec![b'1'; shape.room() + 2];
        assert!(
            shape.render(&head, &[&[over]]).is_err(),
            "the final check holds"
        );
        assert!(!shape.fill().fits(0, shape.room() + 1));
    }

    #[test]
    fn a_head_without_fields_gets_no_stray_comma() {
        let shape = Shape::new(1000, 2, &[("lines", 10)]);
        let body = shape
            .render(
                b"{}",
                &[&[
                    json(serde_json::json!("a\"b")),
                    json(serde_json::json!("c")),
                ]],
            )
            .unwrap();
        assert_eq!(body, br#"{"lines":["a\"b","c"]}"#);
    }
}
