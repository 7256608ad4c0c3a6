//! Residency and the prompt-embedding cache on the shipped demo model, with real sessions.

use std::path::{Path, PathBuf};

use super::*;
use crate::frame::RgbFrame;
use crate::runtime::{EmbeddingCache, Residency, RuntimeOptions};

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/kino-shapes")
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kino-residency-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn pipeline(residency: Residency, cache: Option<&Path>, available: Option<u64>) -> Pipeline {
    let embedding_cache = cache.map_or(EmbeddingCache::Off, |d| EmbeddingCache::Dir(d.to_path_buf()));
    let opts = RuntimeOptions { threads: Some(1), residency, embedding_cache, memory_available: available, ..RuntimeOptions::from_env() };
    Pipeline::load(&model(), &opts).unwrap()
}

fn request(pipe: &Pipeline) -> GenerateRequest {
    let mut req = GenerateRequest::defaults_for(&pipe.package, "a red circle moving left");
    (req.frames, req.steps, req.seed) = (5, 3, 7);
    req
}

fn frames(pipe: &Pipeline) -> Vec<RgbFrame> {
    let mut out = Vec::new();
    pipe.generate(&request(pipe), &mut |_| true, &mut |f| {
        out.push(f);
        Ok(())
    })
    .unwrap();
    out
}

fn load(pipe: &Pipeline, name: &str) -> ComponentLoad {
    pipe.loads().into_iter().find(|l| l.name == name).unwrap()
}

/// Every policy and a cached prompt give the same frames; a repeated prompt never loads the
/// text encoder again; low memory releases what it loaded; generate never opens the VAE encoder.
#[test]
fn frames_match_across_residencies_and_a_cached_prompt_skips_the_text_encoder() {
    let cache = temp("policies");
    let keep = pipeline(Residency::KeepLoaded, None, None);
    assert_eq!(load(&keep, "text_encoder").loads, 1, "keep-loaded loads up front");
    let want = frames(&keep);
    assert_eq!(want.len(), 5);
    let names: Vec<&str> = keep.sessions().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["text_encoder", "denoiser", "vae_decoder"], "generate opens no VAE encoder");

    let low = pipeline(Residency::LowMemory, Some(&cache), None);
    assert!(low.loads().iter().all(|l| l.loads == 0), "low memory loads nothing up front");
    assert_eq!(frames(&low), want, "low memory, embeddings encoded and cached");
    assert!(low.loads().iter().all(|l| !l.resident), "all released after the job: {:?}", low.loads());
    assert_eq!(frames(&low), want, "low memory, embeddings from the cache");
    let (te, dn, enc) = (load(&low, "text_encoder"), load(&low, "denoiser"), load(&low, "vae_encoder"));
    assert_eq!((te.loads, dn.loads, enc.loads), (1, 2, 0), "the second run found its prompt cached");

    // Auto: a job that does not fit the memory given runs as low memory, one that does keeps.
    let tight = pipeline(Residency::Auto, Some(&cache), Some(1));
    assert_eq!(tight.residency_for(&request(&tight), false), Residency::LowMemory);
    assert_eq!(frames(&tight), want);
    let roomy = pipeline(Residency::Auto, Some(&cache), Some(u64::MAX));
    assert_eq!(roomy.residency_for(&request(&roomy), false), Residency::KeepLoaded);
    assert_eq!(frames(&roomy), want);
    for p in [&tight, &roomy] {
        assert_eq!(load(p, "text_encoder").loads, 0, "cached prompt: no text encoder under auto");
    }
    assert!(load(&roomy, "denoiser").resident && !load(&tight, "denoiser").resident);
    std::fs::remove_dir_all(&cache).unwrap();
}

/// A damaged entry is ignored (the prompt is encoded again, same frames) and rewritten.
#[test]
fn a_damaged_cache_entry_is_ignored_and_rewritten() {
    let cache = temp("damaged");
    let want = frames(&pipeline(Residency::LowMemory, Some(&cache), None));
    let entries: Vec<PathBuf> =
        std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "emb")).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    for damage in [|b: &mut Vec<u8>| b[100] ^= 1, |b: &mut Vec<u8>| b.truncate(b.len() / 2)] {
        let mut bytes = std::fs::read(&entries[0]).unwrap();
        damage(&mut bytes);
        std::fs::write(&entries[0], &bytes).unwrap();
        let again = pipeline(Residency::LowMemory, Some(&cache), None);
        assert_eq!(frames(&again), want);
        assert_eq!(load(&again, "text_encoder").loads, 1, "a damaged entry is never trusted");
    }
    let repaired = pipeline(Residency::LowMemory, Some(&cache), None);
    assert_eq!(frames(&repaired), want);
    assert_eq!(load(&repaired, "text_encoder").loads, 0, "the entry was rewritten");
    std::fs::remove_dir_all(&cache).unwrap();
}

/// The VAE encoder loads for a job that continues from frames, and (keep-loaded) stays.
#[test]
fn animate_loads_the_vae_encoder_on_first_use() {
    let keep = pipeline(Residency::KeepLoaded, None, None);
    let req = request(&keep);
    let still = RgbFrame { width: req.width, height: req.height, data: vec![90; (req.width * req.height * 3) as usize] };
    assert_eq!(load(&keep, "vae_encoder").loads, 0);
    keep.animate(&req, &still, &mut |_| true, &mut |_| Ok(())).unwrap();
    let enc = load(&keep, "vae_encoder");
    assert!(enc.loads == 1 && enc.resident && enc.last_load_s > 0.0, "{enc:?}");
}

#[test]
fn low_memory_estimates_less_than_keeping_everything() {
    let pkg = crate::model::ModelPackage::load(model()).unwrap();
    let req = GenerateRequest::defaults_for(&pkg, "x");
    let keep = req.estimated_memory_as(&pkg, 0, false, Residency::KeepLoaded);
    let low = req.estimated_memory_as(&pkg, 0, false, Residency::LowMemory);
    let with_encoder = req.estimated_memory_as(&pkg, 0, true, Residency::KeepLoaded);
    assert!(low < keep && keep < with_encoder, "{low} {keep} {with_encoder}");
    assert!(keep <= req.estimated_memory(&pkg, 0), "never above the estimate counting every file");
}

fn staged_pipeline(dir: &Path, residency: Residency) -> Pipeline {
    let opts = RuntimeOptions { threads: Some(1), residency, embedding_cache: EmbeddingCache::Off, ..RuntimeOptions::from_env() };
    Pipeline::load(dir, &opts).unwrap()
}

/// A staged text encoder: low memory streams it (no session kept, the graphs' opening counted as
/// its load) and counts loads as for one graph; the frames equal keep-loaded ones.
#[test]
fn low_memory_streams_a_staged_text_encoder() {
    let dir = crate::model::package_tests::staged_package("residency-stages");
    let keep = staged_pipeline(&dir, Residency::KeepLoaded);
    let te = keep.components.text_encoder.resident().unwrap();
    assert_eq!((te.sessions().len(), te.is_streaming()), (2, false), "keep-loaded opens every graph up front");
    let want = frames(&keep);
    let low = staged_pipeline(&dir, Residency::LowMemory);
    assert_eq!(frames(&low), want);
    let te = load(&low, "text_encoder");
    assert_eq!((te.loads, te.resident), (1, false), "{te:?}");
    assert!(te.last_load_s > 0.0, "opening the streamed graphs counts as the load: {te:?}");
    assert!(low.loads().iter().all(|l| !l.resident), "{:?}", low.loads());
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

/// Low memory counts the text encoder's largest graph, keep-loaded all of them: two packages
/// whose first graph carries 64 MiB and whose second 48 or 8 MiB estimate alike under low memory.
#[test]
fn low_memory_estimates_the_largest_text_encoder_graph() {
    let mib = 1u64 << 20;
    let estimates = |tag: &str, second: u64| {
        let dir = crate::model::package_tests::staged_package(tag);
        let pkg = crate::model::ModelPackage::load(&dir).unwrap();
        let stage = &pkg.manifest.text_encoder.stages[0].file;
        // Sparse files beside the graphs: `<graph>.data` counts as the graph's weights.
        for (file, bytes) in [(&pkg.manifest.text_encoder.graph.file, 64 * mib), (stage, second)] {
            std::fs::File::create(dir.join(format!("{file}.data"))).unwrap().set_len(bytes).unwrap();
        }
        let req = GenerateRequest::defaults_for(&pkg, "x");
        let e =
            (req.estimated_memory_as(&pkg, 0, false, Residency::LowMemory), req.estimated_memory_as(&pkg, 0, false, Residency::KeepLoaded));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
        e
    };
    let (low_a, keep_a) = estimates("estimate-a", 48 * mib);
    let (low_b, keep_b) = estimates("estimate-b", 8 * mib);
    // Equal but for the rounding of a third.
    assert!(low_a.abs_diff(low_b) <= 2, "low memory holds one text-encoder graph at a time: {low_a} {low_b}");
    assert!(low_a >= 64 * mib + 64 * mib / 3, "{low_a}");
    let extra = keep_a - keep_b;
    assert!(extra.abs_diff(40 * mib + 40 * mib / 3) <= 2, "keep-loaded counts every graph: {extra}");
}
