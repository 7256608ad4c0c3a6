//! An effect instance: parameters, actions, rendering.

use super::*;
/// How a frame is rendered.
#[derive(Clone, Copy, Debug)]
pub struct RenderOpts {
    pub depth: &'static CStr,
    pub scale: f64,
    pub negative_rows: bool,
    /// Ask IsIdentity first and copy the source when the effect says so (as hosts do).
    pub use_identity: bool,
    /// A render in response to the user (kOfxImageEffectPropInteractiveRenderStatus: a viewer's).
    pub interactive: bool,
}

impl Default for RenderOpts {
    fn default() -> Self {
        RenderOpts { depth: kOfxBitDepthByte, scale: 1.0, negative_rows: false, use_identity: false, interactive: false }
    }
}

/// A rendered frame: RGBA8, top row first.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Frame {
    pub fn rgb(&self) -> Vec<u8> {
        self.rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()
    }

    pub fn save_png(&self, path: &Path) {
        image::save_buffer(path, &self.rgba, self.width, self.height, image::ExtendedColorType::Rgba8).expect("write PNG");
    }

    pub fn is_error_frame(&self) -> bool {
        self.rgba[..3] == [200, 20, 20] || self.rgba[..3] == [30, 30, 30]
    }
}

pub struct Instance<'h> {
    pub(super) host: &'h Host,
    pub(super) plugin: *const OfxPlugin,
    pub effect: Box<Effect>,
    pub context: String,
}

impl Instance<'_> {
    pub(super) fn handle(&self) -> *const c_void {
        &*self.effect as *const Effect as *const c_void
    }

    pub fn param(&self, name: &str) -> Value {
        let params = self.effect.params.params.lock().unwrap();
        let p = params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no param {name}"));
        let v = p.value.lock().unwrap().0.clone();
        v
    }

    pub fn param_props(&self, name: &str) -> Box<PropSet> {
        let params = self.effect.params.params.lock().unwrap();
        let p = params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no param {name}"));
        p.props.copy("param props")
    }

    pub fn param_names(&self) -> Vec<(String, String)> {
        self.effect.params.params.lock().unwrap().iter().map(|p| (p.name.clone(), p.kind.clone())).collect()
    }

    /// Sets a value as the user would, then tells the plugin (InstanceChanged).
    pub fn set(&self, name: &str, v: Value) {
        {
            let params = self.effect.params.params.lock().unwrap();
            let p = params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no param {name}"));
            let mut cur = p.value.lock().unwrap();
            assert_eq!(std::mem::discriminant(&cur.0), std::mem::discriminant(&v), "{name}: value of the wrong type");
            cur.0 = v;
        }
        // MLT writes values into each instance before rendering, without InstanceChanged.
        if !self.host.mlt {
            self.changed(name);
        }
    }

    /// Presses a push button.
    pub fn press(&self, name: &str) -> OfxStatus {
        self.changed(name)
    }

    pub(super) fn changed(&self, name: &str) -> OfxStatus {
        let inp = action_args("instanceChanged in")
            .string(kOfxPropType, 1, &["OfxTypeParameter"])
            .string(kOfxPropName, 1, &[name])
            .string(kOfxPropChangeReason, 1, &["OfxChangeUserEdited"])
            .double(kOfxPropTime, 1, &[0.0])
            .double(kOfxImageEffectPropRenderScale, 2, &[1.0, 1.0]);
        let begin = action_args("begin").string(kOfxPropChangeReason, 1, &["OfxChangeUserEdited"]);
        ok_or_default(call(self.plugin, c"OfxActionBeginInstanceChanged", self.handle(), Some(&begin), None), "BeginInstanceChanged");
        IN_INSTANCE_CHANGED.with(|c| c.set(true));
        let s = call(self.plugin, kOfxActionInstanceChanged, self.handle(), Some(&inp), None);
        IN_INSTANCE_CHANGED.with(|c| c.set(false));
        ok_or_default(s, "InstanceChanged");
        ok_or_default(call(self.plugin, c"OfxActionEndInstanceChanged", self.handle(), Some(&begin), None), "EndInstanceChanged");
        s
    }

    /// GetClipPreferences: the host applies what the plugin asks for (here it only checks it).
    pub(super) fn clip_preferences(&self) {
        let mut out = action_args("clip preferences out")
            .double(kOfxImageEffectPropFrameRate, 1, &[self.host.fps])
            .string(c"OfxImageClipPropFieldOrder", 1, &["OfxFieldNone"])
            .string(kOfxImageEffectPropPreMultiplication, 1, &["OfxImageOpaque"])
            .int(c"OfxImageClipPropContinuousSamples", 1, &[0])
            .int(kOfxImageEffectFrameVarying, 1, &[0]);
        for c in self.effect.clips.lock().unwrap().iter() {
            let n = &c.name;
            out = out
                .string(&CString::new(format!("OfxImageClipPropComponents_{n}")).unwrap(), 1, &["OfxImageComponentRGBA"])
                .string(&CString::new(format!("OfxImageClipPropDepth_{n}")).unwrap(), 1, &["OfxBitDepthByte"])
                .double(&CString::new(format!("OfxImageClipPropPAR_{n}")).unwrap(), 1, &[1.0]);
        }
        let s = call(self.plugin, kOfxImageEffectActionGetClipPreferences, self.handle(), None, Some(&out));
        ok_or_default(s, "GetClipPreferences");
        if s == kOfxStatOK {
            assert_eq!(out.ints(kOfxImageEffectFrameVarying), vec![1], "generated frames vary in time");
        }
    }

    /// PurgeCaches (ofxCore.h): the host wants memory back.
    pub fn purge_caches(&self) {
        ok_or_default(call(self.plugin, kOfxActionPurgeCaches, self.handle(), None, None), "PurgeCaches");
    }

    /// GetTimeDomain (general context only).
    pub fn time_domain(&self) -> Option<(f64, f64)> {
        let out = action_args("time domain out").double(kOfxImageEffectPropFrameRange, 2, &[0.0, 0.0]);
        let s = call(self.plugin, kOfxImageEffectActionGetTimeDomain, self.handle(), None, Some(&out));
        (s == kOfxStatOK).then(|| {
            let r = out.doubles(kOfxImageEffectPropFrameRange);
            (r[0], r[1])
        })
    }

    /// The output clip's frame range.
    pub fn output_range(&self) -> (f64, f64) {
        let clips = self.effect.clips.lock().unwrap();
        let r = clips.iter().find(|c| c.name == "Output").map(|c| c.props.doubles(kOfxImageEffectPropFrameRange)).unwrap_or_default();
        (r.first().copied().unwrap_or(0.0), r.get(1).copied().unwrap_or(0.0))
    }

    /// Sets a value without telling the plugin (a value the host owns).
    pub(super) fn set_value(&self, name: &str, v: Value) {
        let params = self.effect.params.params.lock().unwrap();
        let p = params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no param {name}"));
        p.value.lock().unwrap().0 = v;
    }

    pub fn set_output_range(&self, first: f64, last: f64) {
        for c in self.effect.clips.lock().unwrap().iter() {
            if c.name == "Output" {
                c.props.set_doubles(kOfxImageEffectPropFrameRange, &[first, last]);
            }
        }
    }

    pub(super) fn source(&self) -> Option<Arc<Source>> {
        self.effect.clips.lock().unwrap().iter().find(|c| c.name == "Source").and_then(|c| c.source.clone())
    }

    /// Renders the frame at `time`: region of definition, frames needed, (identity,) render.
    pub fn render(&self, time: f64, opts: RenderOpts) -> Result<Frame, OfxStatus> {
        let scale = [opts.scale, opts.scale];
        // Region of definition (canonical), or the host's default: the source's, else the project.
        let inp = action_args("rod in").double(kOfxPropTime, 1, &[time]).double(kOfxImageEffectPropRenderScale, 2, &scale);
        let out = action_args("rod out").double(kOfxImageEffectPropRegionOfDefinition, 4, &[0.0; 4]);
        let s = call(self.plugin, kOfxImageEffectActionGetRegionOfDefinition, self.handle(), Some(&inp), Some(&out));
        // A plugin that fails here at a scale other than 1 does not render scaled (Natron's
        // reading): the caller renders at full scale instead.
        if s == kOfxStatFailed && opts.scale != 1.0 {
            return Err(s);
        }
        ok_or_default(s, "GetRegionOfDefinition");
        let rod = if s == kOfxStatOK {
            out.doubles(kOfxImageEffectPropRegionOfDefinition)
        } else {
            match self.source() {
                Some(src) => vec![0.0, 0.0, src.width as f64 * self.host.par, src.height as f64],
                None => vec![0.0, 0.0, self.host.project.0, self.host.project.1],
            }
        };
        // Canonical to pixels: x at render scale over the pixel aspect ratio (ofxCore.h).
        let sx = opts.scale / self.host.par;
        let rect = OfxRectI {
            x1: (rod[0] * sx + 1e-6).floor() as i32,
            y1: (rod[1] * opts.scale).floor() as i32,
            x2: (rod[2] * sx - 1e-6).ceil() as i32,
            y2: (rod[3] * opts.scale).ceil() as i32,
        };
        // Frames needed, when the plugin asked for temporal access.
        // (MLT never asks: it has no temporal clip access.)
        let temporal = self.effect.props.ints(kOfxImageEffectPropTemporalClipAccess)[0] == 1 && !self.host.mlt;
        // One "OfxImageClipPropFrameRange_<clip>" per connected input (ofxImageEffect.h).
        let inputs: Vec<String> = self.effect.clips.lock().unwrap().iter().filter(|c| c.source.is_some()).map(|c| c.name.clone()).collect();
        let range_prop = |n: &str| CString::new(format!("OfxImageClipPropFrameRange_{n}")).unwrap();
        let mut needed: HashMap<String, Vec<(f64, f64)>> = inputs.iter().map(|n| (n.clone(), vec![(time, time)])).collect();
        if temporal && !inputs.is_empty() {
            let inp = action_args("frames needed in").double(kOfxPropTime, 1, &[time]);
            let mut out = action_args("frames needed out");
            for n in &inputs {
                out = out.double(&range_prop(n), 0, &[time, time]);
            }
            let s = call(self.plugin, kOfxImageEffectActionGetFramesNeeded, self.handle(), Some(&inp), Some(&out));
            ok_or_default(s, "GetFramesNeeded");
            if s == kOfxStatOK {
                for n in &inputs {
                    let r = out.doubles(&range_prop(n));
                    assert!(r.len().is_multiple_of(2), "frame ranges come in pairs");
                    needed.insert(n.clone(), r.chunks(2).map(|c| (c[0], c[1])).collect());
                }
            }
        }
        // A transition's mandated parameter is the host's: its progress through the output's range.
        if self.context == "OfxImageEffectContextTransition" {
            let r = self.output_range();
            let v = if r.1 > r.0 { ((time - r.0) / (r.1 - r.0)).clamp(0.0, 1.0) } else { 0.0 };
            self.set_value("Transition", Value::Double(v));
        }
        let bpp = 4 * bytes_per_channel(opts.depth);
        let (w, h) = ((rect.x2 - rect.x1) as usize, (rect.y2 - rect.y1) as usize);
        let output = Buffer::new(w * bpp + 8, h.max(1));
        *self.effect.render.lock().unwrap() = Some(RenderState {
            time,
            scale,
            depth: opts.depth,
            negative_rows: opts.negative_rows,
            output: output.clone(),
            output_rect: rect,
            needed,
        });
        for c in self.effect.clips.lock().unwrap().iter() {
            c.props.set_strs(kOfxImageEffectPropPixelDepth, &[opts.depth.to_str().unwrap()]);
        }
        let result = (|| {
            if opts.use_identity {
                let inp = action_args("identity in")
                    .double(kOfxPropTime, 1, &[time])
                    .string(c"OfxImageEffectPropFieldToRender", 1, &["OfxFieldNone"])
                    .int(kOfxImageEffectPropRenderWindow, 4, &[rect.x1, rect.y1, rect.x2, rect.y2])
                    .double(kOfxImageEffectPropRenderScale, 2, &scale);
                let out = action_args("identity out").string(kOfxPropName, 1, &[""]).double(kOfxPropTime, 1, &[time]);
                let s = call(self.plugin, kOfxImageEffectActionIsIdentity, self.handle(), Some(&inp), Some(&out));
                if s == kOfxStatOK {
                    assert_eq!(out.str(kOfxPropName), "Source");
                    let t = out.doubles(kOfxPropTime)[0];
                    let src = self.source().expect("identity to a connected source");
                    let f = &src.frames[(t - src.first).round() as usize];
                    return Ok(Frame { width: src.width, height: src.height, rgba: f.clone() });
                }
                ok_or_default(s, "IsIdentity");
            }
            let inp = action_args("render in")
                .double(kOfxPropTime, 1, &[time])
                .string(c"OfxImageEffectPropFieldToRender", 1, &["OfxFieldNone"])
                .int(kOfxImageEffectPropRenderWindow, 4, &[rect.x1, rect.y1, rect.x2, rect.y2])
                .double(kOfxImageEffectPropRenderScale, 2, &scale)
                .int(c"OfxImageEffectPropSequentialRenderStatus", 1, &[0])
                .int(c"OfxImageEffectPropInteractiveRenderStatus", 1, &[opts.interactive as i32])
                .int(c"OfxImageEffectPropRenderQualityDraft", 1, &[0]);
            let s = call(self.plugin, kOfxImageEffectActionRender, self.handle(), Some(&inp), None);
            if s != kOfxStatOK {
                return Err(s);
            }
            let bytes = output.bytes.lock().unwrap();
            let mut rgba = Vec::with_capacity(w * h * 4);
            for row in 0..h {
                let y = rect.y2 - 1 - row as i32; // top row first
                for x in rect.x1..rect.x2 {
                    let o = offset(rect, &output, opts.negative_rows, bpp, x, y);
                    rgba.extend_from_slice(&load_px(opts.depth, &bytes[o..o + bpp]));
                }
            }
            Ok(Frame { width: w as u32, height: h as u32, rgba })
        })();
        *self.effect.render.lock().unwrap() = None;
        assert_eq!(self.effect.images_out.load(Ordering::SeqCst), 0, "every image fetched was released");
        result
    }
}

impl Drop for Instance<'_> {
    fn drop(&mut self) {
        let s = call(self.plugin, kOfxActionDestroyInstance, self.handle(), None, None);
        if !std::thread::panicking() {
            assert!(s == kOfxStatOK || s == kOfxStatReplyDefault, "DestroyInstance returned {s}");
        }
    }
}
