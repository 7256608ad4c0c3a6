//! The text encoder's chain on the wan-tiny fixture split in two graphs
//! (`tests/fixtures/text-stages`), with real sessions.

use std::path::Path;

use ndarray::{Array2, Array3};

use super::TextEncoder;
use crate::model::package_tests::{load_err, manifest, staged_package};
use crate::model::ModelPackage;
use crate::runtime::{Device, Input, RuntimeOptions};
use crate::text::TokenBatch;

fn opts() -> RuntimeOptions {
    RuntimeOptions { threads: Some(1), ..RuntimeOptions::from_env() }
}

/// Two prompts of different lengths, padded to the tokenizer's `max_length`.
fn tokens(pkg: &ModelPackage) -> TokenBatch {
    let len = pkg.manifest.tokenizer.max_length;
    let mut ids = Array2::<i64>::zeros((2, len));
    let mut mask = Array2::<i64>::zeros((2, len));
    for (b, n) in [(0, 5.min(len)), (1, 2.min(len))] {
        for l in 0..n {
            (ids[[b, l]], mask[[b, l]]) = (3 + (7 * l + b) as i64 % 40, 1);
        }
    }
    TokenBatch { ids, mask, truncated: vec![] }
}

fn max_abs_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn one_graph_embeddings() -> (ModelPackage, Array3<f32>) {
    let one = ModelPackage::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fixtures/wan-tiny")).unwrap();
    let want = TextEncoder::load(&one, Device::Cpu, &opts()).unwrap().encode(&tokens(&one)).unwrap();
    (one, want)
}

fn write_manifest(pkg: &Path, m: &serde_json::Value) {
    std::fs::write(pkg.join("kino.json"), serde_json::to_vec_pretty(m).unwrap()).unwrap();
}

fn cleanup(pkg: &Path) {
    std::fs::remove_dir_all(pkg.parent().unwrap()).unwrap();
}

#[test]
fn a_staged_encoder_matches_the_one_graph_encoder_eager_and_streaming() {
    let (one, want) = one_graph_embeddings();
    let dir = staged_package("te-stages");
    let pkg = ModelPackage::load(&dir).unwrap();
    assert_eq!(pkg.manifest.text_encoder.stages.len(), 1);
    let t = tokens(&one);

    let eager = TextEncoder::load(&pkg, Device::Cpu, &opts()).unwrap();
    assert_eq!(eager.sessions().len(), 2, "every graph opened up front");
    let e = eager.encode(&t).unwrap();
    assert!(max_abs_diff(&e, &want) <= 1e-5, "eager: {}", max_abs_diff(&e, &want));
    assert_eq!(eager.opening_s(), 0.0);

    let streaming = TextEncoder::streaming(&pkg, Device::Cpu, &opts());
    assert!(streaming.sessions().is_empty() && streaming.is_streaming());
    let s = streaming.encode(&t).unwrap();
    assert!(max_abs_diff(&s, &want) <= 1e-5, "streaming: {}", max_abs_diff(&s, &want));
    assert!(streaming.sessions().is_empty(), "no session is kept after an encode");
    assert!(streaming.opening_s() > 0.0, "the graphs were opened inside encode");
    assert_eq!(s, streaming.encode(&t).unwrap(), "a second encode opens them again, same values");
    cleanup(&dir);
}

/// A later graph may take an earlier graph's output under another role and replace a value:
/// the last stage run a second time, reading `text_embeds` back as its hidden states, gives
/// what running the fixture's graphs by hand in that order gives.
#[test]
fn outputs_replace_values_of_the_same_role() {
    let dir = staged_package("te-replace");
    let mut m = manifest(&dir);
    let mut again = m["text_encoder"]["stages"][0].clone();
    let hidden = again["inputs"]["hidden_states"].take();
    again["inputs"].as_object_mut().unwrap().remove("hidden_states");
    again["inputs"]["text_embeds"] = hidden;
    m["text_encoder"]["stages"].as_array_mut().unwrap().push(again);
    write_manifest(&dir, &m);
    let pkg = ModelPackage::load(&dir).unwrap();
    let t = tokens(&pkg);
    let got = TextEncoder::streaming(&pkg, Device::Cpu, &opts()).encode(&t).unwrap();

    let te = &pkg.manifest.text_encoder;
    let name = |g: &crate::model::manifest::GraphSpec, inputs: bool, role: &str| {
        let side = if inputs { &g.inputs } else { &g.outputs };
        side[role].name.clone()
    };
    let (first, last) = (&te.graph, &te.stages[0]);
    let s0 = pkg.open_graph("text_encoder", first, Device::Cpu, &opts()).unwrap();
    let s1 = pkg.open_graph("text_encoder.stages[0]", last, Device::Cpu, &opts()).unwrap();
    let (ids, mask) = (Input::i64(t.ids.view()), || Input::i64(t.mask.view()));
    let (ids_name, mask0, mask1) =
        (name(first, true, "input_ids"), name(first, true, "attention_mask"), name(last, true, "attention_mask"));
    let h = s0.run("t", &[(&ids_name, ids), (&mask0, mask())], &[&name(first, false, "hidden_states")]).unwrap().remove(0);
    let (hidden_in, out) = (name(last, true, "hidden_states"), name(last, false, "text_embeds"));
    let e1 = s1.run("t", &[(&hidden_in, Input::F32(h.view())), (&mask1, mask())], &[&out]).unwrap().remove(0);
    let e2 = s1.run("t", &[(&hidden_in, Input::F32(e1.view())), (&mask1, mask())], &[&out]).unwrap().remove(0);
    let mut want = e2.into_dimensionality::<ndarray::Ix3>().unwrap();
    for ((b, l), _) in t.mask.indexed_iter().filter(|(_, m)| **m == 0) {
        want.slice_mut(ndarray::s![b, l, ..]).fill(0.0);
    }
    assert_eq!(got, want);
    assert!(max_abs_diff(&got, &one_graph_embeddings().1) > 1e-3, "the third graph changed the embeddings");
    cleanup(&dir);
}

#[test]
fn chain_errors_name_the_field_before_any_session() {
    let dir = staged_package("te-errors");
    let original = manifest(&dir);
    let stage = original["text_encoder"]["stages"][0].clone();
    type Edit = fn(&mut serde_json::Value, &serde_json::Value);
    let cases: [(Edit, &str); 6] = [
        (
            |m, stage| {
                let mut extra = stage.clone();
                extra["inputs"]["pooled"] = serde_json::json!({"name": "pooled", "dtype": "float32"});
                m["text_encoder"]["stages"].as_array_mut().unwrap().push(extra);
            },
            "field `text_encoder.stages[1].inputs.pooled`: no earlier graph outputs the role `pooled`",
        ),
        (
            |m, _| {
                let out = m["text_encoder"]["stages"][0]["outputs"]["text_embeds"].take();
                m["text_encoder"]["stages"][0]["outputs"] = serde_json::json!({ "embeds": out });
            },
            "field `text_encoder.stages[0].outputs` lacks the role `text_embeds`",
        ),
        (
            |m, _| {
                m["text_encoder"]["inputs"].as_object_mut().unwrap().remove("input_ids");
            },
            "field `text_encoder.inputs` lacks the role `input_ids`",
        ),
        (
            |m, _| m["text_encoder"]["stages"][0]["inputs"]["hidden_states"]["dtype"] = "int64".into(),
            "field `text_encoder.stages[0].inputs.hidden_states.dtype`: \"int64\", but the value of role `hidden_states` is float32",
        ),
        (
            |m, _| m["text_encoder"]["stages"][0]["file"] = "text_encoder_9.onnx".into(),
            "text_encoder_9.onnx: missing (field `text_encoder.stages[0].file`)",
        ),
        (|m, _| m["text_encoder"]["stages"][0]["file"] = "../escape.onnx".into(), "field `text_encoder.stages[0].file`"),
    ];
    for (edit, want) in cases {
        let mut m = original.clone();
        edit(&mut m, &stage);
        write_manifest(&dir, &m);
        let e = load_err(&dir);
        assert!(e.contains(want), "{e}\nwanted: {want}");
    }
    // The stage's own file gone: named by its field before anything is opened.
    write_manifest(&dir, &original);
    std::fs::remove_file(dir.join(stage["file"].as_str().unwrap())).unwrap();
    let e = load_err(&dir);
    assert!(e.contains("field `text_encoder.stages[0].file`") && e.contains("missing"), "{e}");
    cleanup(&dir);
}
