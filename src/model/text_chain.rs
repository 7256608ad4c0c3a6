//! The text encoder's chain of graphs (`text_encoder` then `text_encoder.stages[..]`): checked
//! when the package loads, run one graph at a time with values passed by role.

use std::collections::BTreeMap;

use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::model::manifest::{GraphSpec, TextEncoderSpec};
use crate::runtime::{Input, OnnxSession};

/// Most graphs after the top-level one (a 5.7 B-parameter encoder split into ~2 GB graphs needs six).
pub const STAGES_MAX: usize = 64;

/// The roles the token batch provides (int64).
const TOKEN_ROLES: [&str; 2] = ["input_ids", "attention_mask"];

/// Checks the chain before any graph is opened: the first graph takes `input_ids`, every input
/// role is a token role or an output of an earlier graph (then float32), outputs are float32
/// (what kino reads back), and the last graph outputs `text_embeds`. The error is one line
/// naming the field. The token roles' dtypes are checked against the graph when it opens, as
/// for every component.
pub fn check(spec: &TextEncoderSpec) -> Result<(), String> {
    if spec.stages.len() > STAGES_MAX {
        return Err(format!("field `text_encoder.stages`: {} graphs; at most {STAGES_MAX}", spec.stages.len()));
    }
    if !spec.graph.inputs.contains_key("input_ids") {
        return Err("field `text_encoder.inputs` lacks the role `input_ids` (the first graph takes the prompt's token ids)".into());
    }
    // Each role's dtype when an earlier graph produced it; `None` for the token roles.
    let mut values: BTreeMap<String, Option<&str>> = TOKEN_ROLES.iter().map(|r| (r.to_string(), None)).collect();
    let chain = spec.chain();
    for (field, graph) in &chain {
        for (role, t) in &graph.inputs {
            match values.get(role) {
                None => {
                    let known: Vec<&str> = values.keys().map(String::as_str).collect();
                    return Err(format!(
                        "field `{field}.inputs.{role}`: no earlier graph outputs the role `{role}`; an input role is one of {known:?} (the token batch's roles and the outputs of the graphs before)"
                    ));
                }
                Some(Some(dtype)) if t.dtype != *dtype => {
                    return Err(format!("field `{field}.inputs.{role}.dtype`: {:?}, but the value of role `{role}` is {dtype}", t.dtype));
                }
                Some(_) => {}
            }
        }
        for (role, t) in &graph.outputs {
            if t.dtype != "float32" {
                return Err(format!("field `{field}.outputs.{role}.dtype`: {:?}; a text encoder's outputs must be float32", t.dtype));
            }
            values.insert(role.clone(), Some("float32"));
        }
    }
    let Some((field, last)) = chain.last() else { return Ok(()) };
    if !last.outputs.contains_key("text_embeds") {
        return Err(format!(
            "field `{field}.outputs` lacks the role `text_embeds` (the last graph of the text encoder outputs the embeddings)"
        ));
    }
    Ok(())
}

/// A value passed between the chain's graphs.
pub(super) enum Value {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

/// Runs `graph` (the manifest's `field`) on `session`: its inputs by role from `values`, its
/// outputs added to `values` by role, replacing an earlier value of the same role.
pub(super) fn run_graph(session: &OnnxSession, field: &str, graph: &GraphSpec, values: &mut BTreeMap<String, Value>) -> Result<()> {
    let mut inputs = Vec::with_capacity(graph.inputs.len());
    for (role, t) in &graph.inputs {
        let input = match values.get(role) {
            Some(Value::F32(a)) => Input::F32(a.view()),
            Some(Value::I64(a)) => Input::I64(a.view()),
            None => {
                return Err(Error::Inference {
                    component: "text encoder".into(),
                    file: session.file.display().to_string(),
                    reason: format!("no value of role `{role}` for `{field}.inputs`"),
                })
            }
        };
        inputs.push((t.name.as_str(), input));
    }
    let names: Vec<&str> = graph.outputs.values().map(|t| t.name.as_str()).collect();
    let outputs = session.run("text encoder", &inputs, &names).map_err(|e| match e {
        // An id past the embedding table: the package's tokenizer is not this encoder's.
        Error::Inference { component, file, reason } if reason.contains("indices element out of data bounds") => Error::Inference {
            component,
            file,
            reason: format!("the tokenizer gives token ids this text encoder has no embedding for: the package's tokenizer.json is not the one the text encoder was exported with ({})", reason.trim()),
        },
        other => other,
    })?;
    drop(inputs);
    for (role, out) in graph.outputs.keys().zip(outputs) {
        values.insert(role.clone(), Value::F32(out));
    }
    Ok(())
}
