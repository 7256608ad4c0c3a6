//! Prompts to token ids: the package's Hugging Face `tokenizer.json`, its padding and cleaning rules.

pub mod embed_cache;

use std::path::Path;

use ndarray::{s, Array2, ArrayView1};

use crate::error::{Error, Result};
use crate::model::manifest::{Padding, PromptCleaning, TokenizerSpec, UnknownWords};
use crate::model::sandbox::{read_bounded, MAX_TOKENIZER_BYTES};

/// Longest prompt accepted, in characters: far beyond any tokenizer's max_length, small enough
/// that a pasted file is refused rather than tokenized.
pub const MAX_PROMPT_CHARS: usize = 20_000;

/// Token ids and mask for a batch of prompts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBatch {
    /// `[B, L]`, padded with the tokenizer's pad id.
    pub ids: Array2<i64>,
    /// `[B, L]`: 1 for a prompt's tokens, 0 for padding.
    pub mask: Array2<i64>,
    /// Prompts that were cut to `max_length`.
    pub truncated: Vec<usize>,
}

pub struct PromptTokenizer {
    tokenizer: tokenizers::Tokenizer,
    spec: TokenizerSpec,
    pad_id: u32,
    unk_id: Option<u32>,
}

impl PromptTokenizer {
    /// Reads `file` (a regular file of at most [`MAX_TOKENIZER_BYTES`]) with `spec`'s rules.
    pub fn load(file: &Path, spec: &TokenizerSpec) -> Result<Self> {
        let fail = |e: String| Error::Tokenizer(format!("{}: {}", file.display(), crate::model::one_line(&e)));
        if !crate::model::validate::MAX_LENGTH.contains(&spec.max_length) {
            let r = crate::model::validate::MAX_LENGTH;
            return Err(fail(format!("max_length {} must be within [{}, {}]", spec.max_length, r.start(), r.end())));
        }
        let meta = std::fs::metadata(file).map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        let f = std::fs::File::open(file).map_err(|e| fail(e.to_string()))?;
        let mut bytes = read_bounded(f, MAX_TOKENIZER_BYTES).map_err(fail)?;
        // A byte-order mark (editors on Windows write one) is not JSON, and says nothing.
        if bytes.starts_with(b"\xef\xbb\xbf") {
            bytes.drain(..3);
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| fail(format!("not valid JSON: {e}")))?;
        if let Some(p) = json.get("post_processor").filter(|p| !p.is_null()) {
            check_post_processor(p, 0).map_err(|e| fail(format!("post_processor: {e}")))?;
        }
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| fail(e.to_string()))?;
        // The pad id is the tokenizer's own padding token if it declares one, else [PAD]/<pad>, else 0.
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| ["[PAD]", "<pad>"].iter().find_map(|t| tokenizer.token_to_id(t)))
            .unwrap_or(0);
        // kino pads by the manifest's rule. Truncation happens before special tokens are added,
        // as in transformers (`truncation=True, max_length=N`): a long T5 prompt keeps its `</s>`.
        tokenizer.with_padding(None);
        let truncation = tokenizers::TruncationParams { max_length: spec.max_length, ..Default::default() };
        tokenizer.with_truncation(Some(truncation)).map_err(|e| {
            Error::Tokenizer(format!(
                "{}: max_length {} is too short for this tokenizer's special tokens ({e})",
                file.display(),
                spec.max_length
            ))
        })?;
        let unk_id = ["[UNK]", "<unk>"].iter().find_map(|t| tokenizer.token_to_id(t));
        Ok(PromptTokenizer { tokenizer, spec: spec.clone(), pad_id, unk_id })
    }

    /// How a word-level tokenizer (the demo model's) reads `prompt`: its words after the
    /// tokenizer's rules ("A red ball moves to the left." -> "a red circle moving left"), unknown
    /// ones left out where the package drops them. `None` where the reading is the prompt's own
    /// words, or the tokenizer's pieces are not words (subword tokenizers: T5, CLIP).
    pub fn reading(&self, prompt: &str) -> Option<String> {
        if !matches!(self.tokenizer.get_model(), tokenizers::ModelWrapper::WordLevel(_)) {
            return None;
        }
        // The text the model is given (unknown words cut out where the package drops them), read
        // as it is encoded, to the words that fit.
        let enc = self.encode_words(&self.text_to_encode(prompt))?;
        let drop = self.spec.unknown_words == UnknownWords::Drop;
        let words: Vec<&str> = enc
            .get_ids()
            .iter()
            .zip(enc.get_tokens())
            .filter(|(id, _)| !(drop && Some(**id) == self.unk_id))
            .map(|(_, t)| t.as_str())
            .take(self.spec.max_length)
            .collect();
        let reading = words.join(" ");
        let own = self.clean(prompt).to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        (reading != own).then_some(reading)
    }

    /// What the package says to do with unknown words.
    pub fn unknown_word_rule(&self) -> UnknownWords {
        self.spec.unknown_words
    }

    pub fn clean(&self, prompt: &str) -> String {
        match self.spec.clean {
            PromptCleaning::None => prompt.to_string(),
            PromptCleaning::Whitespace => prompt.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }

    /// The words of `prompt` this tokenizer reads as its unknown token (`[UNK]`, `<unk>`), in
    /// order: a word-level vocabulary, as the demo model's, draws nothing from them.
    pub fn unknown_words(&self, prompt: &str) -> Vec<String> {
        let text = self.clean(prompt);
        self.unknown_spans(&text).into_iter().filter_map(|(a, b)| text.get(a..b).map(str::to_string)).collect()
    }

    /// How many words of `prompt` the model reads (neither unknown nor dropped by the
    /// tokenizer's own rules): 0 means the prompt asks for nothing the model knows.
    pub fn known_word_count(&self, prompt: &str) -> usize {
        self.encode_words(&self.clean(prompt)).map_or(0, |enc| enc.get_ids().iter().filter(|&&id| Some(id) != self.unk_id).count())
    }

    /// The byte ranges of `text`'s words the tokenizer reads as its unknown token.
    fn unknown_spans(&self, text: &str) -> Vec<(usize, usize)> {
        let (Some(unk), Some(enc)) = (self.unk_id, self.encode_words(text)) else {
            return Vec::new();
        };
        let mut spans: Vec<(usize, usize)> =
            enc.get_ids().iter().zip(enc.get_offsets()).filter(|(id, _)| **id == unk).map(|(_, &span)| span).collect();
        // One character the normalizer splits ("½" -> "1⁄2") is one unknown word, not three.
        spans.dedup();
        spans
    }

    /// `text`'s words as tokens, without special tokens; `None` where the tokenizer fails.
    fn encode_words(&self, text: &str) -> Option<tokenizers::Encoding> {
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.tokenizer.encode(text, false)));
        encoded.ok()?.ok()
    }

    /// The text the tokenizer is given for `prompt`: cleaned, and with
    /// [`UnknownWords::Drop`] its unknown words cut out (before truncation, so they do not
    /// crowd known words out of `max_length`).
    fn text_to_encode(&self, prompt: &str) -> String {
        let text = self.clean(prompt);
        if self.spec.unknown_words == UnknownWords::Keep {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (a, b) in self.unknown_spans(&text) {
            if a >= at && text.is_char_boundary(a) && text.is_char_boundary(b) {
                out.push_str(&text[at..a]);
                out.push(' ');
                at = b;
            }
        }
        out.push_str(&text[at..]);
        out
    }

    /// Tokenizes a batch of prompts with the package's padding rule.
    pub fn encode(&self, prompts: &[&str]) -> Result<TokenBatch> {
        let mut rows = Vec::with_capacity(prompts.len());
        let mut truncated = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            if p.chars().count() > MAX_PROMPT_CHARS {
                return Err(Error::InvalidRequest(format!(
                    "prompt is {} characters long; the limit is {MAX_PROMPT_CHARS} (this model reads at most {} tokens)",
                    p.chars().count(),
                    self.spec.max_length
                )));
            }
            // The tokenizers crate trusts its file in places (indexing by ids from it); a panic
            // there is an error here, never a crash of kino or its host.
            let text = self.text_to_encode(p);
            let enc = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.tokenizer.encode(text.as_str(), true)))
                .map_err(|_| Error::Tokenizer("the tokenizer failed on this prompt (its tokenizer.json is inconsistent)".into()))?
                .map_err(|e| Error::Tokenizer(crate::model::one_line(&e.to_string())))?;
            let mut ids: Vec<i64> = enc.get_ids().iter().map(|&x| x as i64).collect();
            if self.spec.unknown_words == UnknownWords::Drop {
                // Cutting a word out can, rarely, leave another the tokenizer's rules read as unknown.
                ids.retain(|&x| Some(x) != self.unk_id.map(i64::from));
            }
            if !enc.get_overflowing().is_empty() || ids.len() > self.spec.max_length {
                ids.truncate(self.spec.max_length);
                truncated.push(i);
            }
            rows.push(ids);
        }
        let len = match self.spec.padding {
            Padding::MaxLength => self.spec.max_length,
            Padding::Longest => rows.iter().map(Vec::len).max().unwrap_or(1).max(1),
        };
        let mut ids = Array2::from_elem((rows.len(), len), self.pad_id as i64);
        let mut mask = Array2::<i64>::zeros((rows.len(), len));
        // Rows are at most `len` long: cut to max_length, or the longest row.
        for (r, row) in rows.iter().enumerate() {
            ids.slice_mut(s![r, ..row.len()]).assign(&ArrayView1::from(row.as_slice()));
            mask.slice_mut(s![r, ..row.len()]).fill(1);
        }
        Ok(TokenBatch { ids, mask, truncated })
    }
}

/// Checks what the tokenizers crate trusts without checking when it reads a `TemplateProcessing`
/// post-processor (it indexes by these and panics): the single template uses only sequence A,
/// every special token a template names is defined, with as many ids as tokens.
fn check_post_processor(p: &serde_json::Value, depth: usize) -> std::result::Result<(), String> {
    if depth > 8 {
        return Err("processors nested too deep".into());
    }
    // The crate picks the processor by its fields, not by `type` (an untagged enum): check
    // every object that has a template's or a sequence's fields, whatever its `type` says.
    for inner in p.get("processors").and_then(|v| v.as_array()).into_iter().flatten() {
        check_post_processor(inner, depth + 1)?;
    }
    let specials = p.get("special_tokens").and_then(|v| v.as_object());
    for (name, t) in specials.into_iter().flatten() {
        let len = |k: &str| t.get(k).and_then(|v| v.as_array()).map(Vec::len);
        if len("ids") != len("tokens") {
            return Err(format!("special token {name:?} has {:?} ids but {:?} tokens", len("ids"), len("tokens")));
        }
    }
    for (template, sequences) in [("single", &["A"][..]), ("pair", &["A", "B"][..])] {
        for piece in p.get(template).and_then(|v| v.as_array()).into_iter().flatten() {
            if let Some(id) = piece.pointer("/Sequence/id").and_then(|v| v.as_str()) {
                if !sequences.contains(&id) {
                    return Err(format!("the {template} template names sequence {id:?}"));
                }
            }
            if let Some(id) = piece.pointer("/SpecialToken/id").and_then(|v| v.as_str()) {
                if !specials.is_some_and(|s| s.contains_key(id)) {
                    return Err(format!("the {template} template names special token {id:?}, which special_tokens does not define"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> PromptTokenizer {
        let pkg = crate::model::ModelPackage::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes")).unwrap();
        let spec = &pkg.manifest.tokenizer;
        PromptTokenizer::load(&pkg.dir.join(&spec.file), spec).unwrap()
    }

    /// The demo tokenizer's rules read everyday wordings as the world's words.
    #[test]
    fn paraphrases_read_as_the_worlds_words() {
        let tok = shipped();
        let ids = |p: &str| tok.encode(&[p]).unwrap().ids;
        for (para, plain) in [
            ("A red ball moves to the left.", "a red circle moving left"),
            ("the blue box isn't moving", "the blue square standing still"),
            ("a cyan disc drifting from right to left", "a cyan circle moving left"),
            ("one green triangle, falling", "green triangle moving down"),
            ("a purple pyramid rising upwards", "a magenta triangle moving up"),
            ("white square, still moving right", "white square moving right"),
            ("orange circle left", "orange circle moving left"),
            // What the scene is not is left out, not handed to the model.
            ("a red circle, not a square, that isn't moving left", "a red circle"),
            ("a blue square moving up rather than down", "a blue square moving up"),
        ] {
            assert_eq!(ids(para), ids(plain), "{para:?} reads as {plain:?}");
            assert_eq!(tok.reading(para).as_deref(), Some(plain));
        }
        assert_eq!(tok.reading("a red circle moving left"), None, "the world's own words are read as they are");
        // The reading is of what the model is given: unknown words cut out first.
        assert_eq!(tok.reading("a red circle standing very still").as_deref(), Some("a red circle standing still"));
        assert_eq!(tok.reading("a red circle moving quickly to the left").as_deref(), Some("a red circle moving left"));
        // One character the normalizer splits is one unknown word.
        assert_eq!(tok.unknown_words("a red circle moving left ½"), vec!["½"]);
        assert_ne!(ids("a red circle moving left"), ids("a red circle moving right"));
    }

    /// With `unknown_words: drop` an unknown word is cut out before truncation, so it neither
    /// reaches the encoder nor crowds known words out; with `keep` it is the unknown token.
    #[test]
    fn unknown_words_are_dropped_or_kept_as_the_package_says() {
        let tok = shipped();
        assert_eq!(tok.spec.unknown_words, UnknownWords::Drop);
        let ids = |t: &PromptTokenizer, p: &str| t.encode(&[p]).unwrap().ids;
        let plain = ids(&tok, "a red circle moving left");
        assert_eq!(ids(&tok, "a red circle quickly moving left"), plain);
        let crowd = format!("{} a red circle moving left", "zorb ".repeat(30));
        assert_eq!(ids(&tok, &crowd), plain, "thirty unknown words ahead do not push the prompt past max_length");
        assert_eq!(tok.unknown_words("a red zorb circle"), vec!["zorb"]);
        assert_eq!(tok.known_word_count("slowly zorb"), 0, "fillers and unknown words: nothing to draw");
        assert_eq!(tok.known_word_count("a red zorb circle"), 3);
        let keep = PromptTokenizer { spec: TokenizerSpec { unknown_words: UnknownWords::Keep, ..tok.spec.clone() }, ..tok };
        let kept = ids(&keep, "a red circle quickly moving left");
        assert_eq!(kept.len(), plain.len() + 1);
        assert!(kept.iter().any(|&id| Some(id) == keep.unk_id.map(i64::from)));
    }

    /// A batch is `[B, L]` with each prompt's tokens first, padding after, and the mask marking them.
    #[test]
    fn batches_pad_to_the_longest_prompt() {
        let pkg = crate::model::ModelPackage::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes")).unwrap();
        let spec = &pkg.manifest.tokenizer;
        let tok = PromptTokenizer::load(&pkg.dir.join(&spec.file), spec).unwrap();
        let batch = tok.encode(&["a red circle moving left", "a"]).unwrap();
        let (rows, len) = batch.ids.dim();
        assert_eq!((rows, batch.mask.dim()), (2, (2, len)));
        let real: Vec<i64> = batch.mask.rows().into_iter().map(|r| r.sum()).collect();
        assert_eq!(real[0] as usize, len, "the longest prompt fills its row");
        assert!(real[1] >= 1 && real[1] < real[0]);
        // Mask ones come first in every row.
        assert!(batch.mask.rows().into_iter().all(|r| r.windows(2).into_iter().all(|w| w[0] >= w[1])));
        assert!(batch.truncated.is_empty());
    }
}
