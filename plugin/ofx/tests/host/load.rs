//! The host: discovery, loading, describing, instances, MLT-like rendering.

use super::*;

/// Bundles in `OFX_PLUGIN_PATH`-style folders (ofxPackaging.rst, "Installation Location"):
/// each folder, first to last, and its sub-folders recursively, for
/// `<Name>.ofx.bundle/Contents/<arch>/<Name>.ofx`; names starting with '@' are skipped.
pub fn discover(path_list: &str) -> Vec<PathBuf> {
    pub(super) fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with('@') {
                continue;
            }
            match name.strip_suffix(".ofx.bundle") {
                Some(stem) => {
                    let binary = e.join("Contents").join(arch_dir()).join(format!("{stem}.ofx"));
                    if binary.is_file() {
                        found.push(binary);
                    }
                }
                None => walk(&e, found),
            }
        }
    }
    let mut found = Vec::new();
    for dir in std::env::split_paths(path_list) {
        walk(&dir, &mut found);
    }
    found
}

/// The bundle's architecture folder on Linux (ofxPackaging.rst: `Linux-x86-64`; for other
/// machines `Linux-$(uname -m)`).
pub fn arch_dir() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "Linux-x86-64"
    } else if cfg!(target_arch = "aarch64") {
        "Linux-aarch64"
    } else {
        "Linux-x86"
    }
}

pub struct Plugin {
    pub(super) ptr: *const OfxPlugin,
    pub id: String,
    pub descriptor: Box<Effect>,
    /// Per context, the descriptor DescribeInContext filled in.
    pub contexts: HashMap<String, Box<Effect>>,
}

pub struct Host {
    // Declared first, dropped last... plugins reference the library's code.
    pub plugins: Vec<Plugin>,
    pub log: Arc<Log>,
    pub(super) host: Box<OfxHost>,
    pub(super) host_props: Box<PropSet>,
    pub(super) lib: Option<libloading::Library>,
    /// The project's size in canonical coordinates (pixels times `par` across).
    pub project: (f64, f64),
    /// The project's pixel aspect ratio: every clip's and image's (1 unless a test says).
    pub par: f64,
    pub fps: f64,
    pub mlt: bool,
}

// SAFETY: the host's mutable state is behind mutexes and atomics; its raw pointers are to the
// plugin's static tables and to objects the host owns for its whole life. Hosts render
// instances from many threads, and so may the tests.
unsafe impl Sync for Host {}
unsafe impl Send for Host {}

/// The host's properties; `mlt`: as MLT's OpenFX module sets them (name MLT, no temporal clip
/// access, no list of supported contexts: it offers the filter context only).
pub(super) fn host_props(mlt: bool) -> Box<PropSet> {
    let p = host_props_full();
    if !mlt {
        return p;
    }
    p.set_strs(kOfxPropLabel, &["MLT"]);
    p.set_ints(kOfxImageEffectPropTemporalClipAccess, &[0]);
    p.set_ints(kOfxImageEffectPropSupportsMultiResolution, &[0]);
    p.set_ints(kOfxImageEffectPropSupportsTiles, &[0]);
    p.remove(kOfxImageEffectPropSupportedContexts)
}

pub(super) fn host_props_full() -> Box<PropSet> {
    PropSet::new("host")
        .string(kOfxPropType, 1, &["OfxTypeImageEffectHost"])
        .string(kOfxPropName, 1, &["org.kino.testhost"])
        .string(kOfxPropLabel, 1, &["kino test host"])
        .int(c"OfxPropAPIVersion", 0, &[1, 4])
        .int(c"OfxPropVersion", 0, &[1, 0])
        .string(c"OfxPropVersionLabel", 1, &["1.0"])
        .int(c"OfxImageEffectHostPropIsBackground", 1, &[1])
        .int(c"OfxImageEffectPropSupportsOverlays", 1, &[0])
        .int(kOfxImageEffectPropSupportsMultiResolution, 1, &[1])
        .int(kOfxImageEffectPropSupportsTiles, 1, &[1])
        .int(kOfxImageEffectPropTemporalClipAccess, 1, &[1])
        .string(kOfxImageEffectPropSupportedComponents, 0, &["OfxImageComponentRGBA"])
        .string(
            kOfxImageEffectPropSupportedContexts,
            0,
            &[
                "OfxImageEffectContextGenerator",
                "OfxImageEffectContextFilter",
                "OfxImageEffectContextGeneral",
                "OfxImageEffectContextTransition",
            ],
        )
        .string(kOfxImageEffectPropSupportedPixelDepths, 0, &["OfxBitDepthByte", "OfxBitDepthShort", "OfxBitDepthFloat"])
        .int(kOfxImageEffectPropSupportsMultipleClipDepths, 1, &[0])
        .int(c"OfxImageEffectPropSupportsMultipleClipPARs", 1, &[0])
        .int(c"OfxImageEffectPropSetableFrameRate", 1, &[0])
        .int(c"OfxImageEffectPropSetableFielding", 1, &[0])
        .int(c"OfxParamHostPropSupportsStringAnimation", 1, &[0])
        .int(c"OfxParamHostPropSupportsChoiceAnimation", 1, &[0])
        .int(c"OfxParamHostPropMaxParameters", 1, &[-1])
        .int(c"OfxParamHostPropMaxPages", 1, &[0])
        .int(c"OfxImageEffectInstancePropSequentialRender", 1, &[0])
        .read_only(&[kOfxPropType, kOfxPropName])
}

/// Effect descriptor properties (ofxImageEffect.h, "Properties on an effect descriptor").
pub(super) fn descriptor_props() -> Box<PropSet> {
    PropSet::new("effect descriptor")
        .string(kOfxPropType, 1, &["OfxTypeImageEffect"])
        .string(kOfxPropLabel, 1, &[""])
        .string(c"OfxPropShortLabel", 1, &[""])
        .string(c"OfxPropLongLabel", 1, &[""])
        .int(c"OfxPropVersion", 0, &[])
        .string(c"OfxPropVersionLabel", 1, &[""])
        .string(kOfxPropPluginDescription, 1, &[""])
        .string(kOfxImageEffectPropSupportedContexts, 0, &[])
        .string(kOfxImageEffectPluginPropGrouping, 1, &[""])
        .int(c"OfxImageEffectPluginPropSingleInstance", 1, &[0])
        .string(kOfxImageEffectPluginRenderThreadSafety, 1, &["OfxImageEffectRenderInstanceSafe"])
        .int(kOfxImageEffectPluginPropHostFrameThreading, 1, &[1])
        .int(kOfxImageEffectPropSupportsMultiResolution, 1, &[1])
        .int(kOfxImageEffectPropSupportsTiles, 1, &[1])
        .int(kOfxImageEffectPropTemporalClipAccess, 1, &[0])
        .string(kOfxImageEffectPropSupportedPixelDepths, 0, &[])
        .int(c"OfxImageEffectPluginPropFieldRenderTwiceAlways", 1, &[1])
        .int(kOfxImageEffectPropSupportsMultipleClipDepths, 1, &[0])
        .int(c"OfxImageEffectPropSupportsMultipleClipPARs", 1, &[0])
        .string(c"OfxImageEffectPropClipPreferencesSlaveParam", 0, &[])
        .string(kOfxPluginPropFilePath, 1, &[""])
        .string(kOfxImageEffectPropContext, 1, &[""])
        .read_only(&[kOfxPropType, kOfxPluginPropFilePath, kOfxImageEffectPropContext])
}

pub(super) fn new_effect(props: Box<PropSet>, descriptor: bool, log: Arc<Log>) -> Box<Effect> {
    Box::new(Effect {
        props,
        params: Box::new(ParamSet {
            descriptor,
            props: PropSet::new("param set").string(c"OfxPluginPropParamPageOrder", 0, &[]),
            params: Mutex::new(Vec::new()),
        }),
        clips: Mutex::new(Vec::new()),
        descriptor,
        log,
        images_out: Arc::default(),
        render: Mutex::new(None),
    })
}

pub(super) fn action_args(what: &str) -> Box<PropSet> {
    PropSet::new(what)
}

/// Calls the plugin's main entry. Panics in the plugin would abort the test process (they
/// cannot unwind through `extern "C"`), which is itself a failure.
pub(super) fn call(p: *const OfxPlugin, action: &CStr, handle: *const c_void, inp: Option<&PropSet>, out: Option<&PropSet>) -> OfxStatus {
    // SAFETY: `p` came from OfxGetPlugin of a library still loaded; the handles are ours.
    unsafe {
        let entry = (*p).mainEntry.expect("mainEntry is mandatory (ofxCore.h)");
        entry(action.as_ptr(), handle, inp.map_or(std::ptr::null_mut(), |s| s.handle()), out.map_or(std::ptr::null_mut(), |s| s.handle()))
    }
}

pub(super) fn ok_or_default(s: OfxStatus, what: &str) {
    assert!(s == kOfxStatOK || s == kOfxStatReplyDefault, "{what} returned {s}");
}

impl Host {
    /// Loads the first bundle found on `path_list` and describes every plugin in it, in every
    /// context this host supports, as hosts do at start-up.
    pub fn load(path_list: &str) -> Host {
        Host::load_as(path_list, false)
    }

    /// Loads as MLT's OpenFX module (>= 7.38) does: the filter context only (plugins without it
    /// are not listed), no temporal clip access (every source fetch returns the frame being
    /// rendered), no source frame range, no kOfxPluginPropFilePath, parameters set without
    /// Names this host as another (its kOfxPropName, e.g. Natron's "fr.inria.Natron"), for
    /// behaviour a plugin keeps for one host.
    pub fn name_as(&self, name: &str) {
        self.host_props.set_strs(kOfxPropName, &[name]);
    }

    /// InstanceChanged and in any action; [`Host::render_mlt`] renders as MLT does.
    pub fn load_mlt(path_list: &str) -> Host {
        Host::load_as(path_list, true)
    }

    pub(super) fn load_as(path_list: &str, mlt: bool) -> Host {
        let binaries = discover(path_list);
        let binary = binaries.first().unwrap_or_else(|| panic!("no *.ofx.bundle on {path_list}"));
        // SAFETY: loading the plugin runs its initialisers: that is what we are testing.
        let lib = unsafe { libloading::Library::new(binary) }.expect("dlopen the bundle's binary");
        let log = Arc::new(Log::default());
        log.mlt.store(mlt, Ordering::SeqCst);
        let host_props = host_props(mlt);
        let host = Box::new(OfxHost { host: host_props.handle(), fetchSuite: Some(fetch_suite) });
        let mut plugins = Vec::new();
        // SAFETY: the two exports ofxCore.h requires, with its signatures.
        let (count, get) = unsafe {
            let count: libloading::Symbol<unsafe extern "C" fn() -> c_int> =
                lib.get(b"OfxGetNumberOfPlugins\0").expect("OfxGetNumberOfPlugins exported");
            let get: libloading::Symbol<unsafe extern "C" fn(c_int) -> *mut OfxPlugin> =
                lib.get(b"OfxGetPlugin\0").expect("OfxGetPlugin exported");
            (count(), *get)
        };
        let supported =
            if mlt { vec!["OfxImageEffectContextFilter".to_string()] } else { host_props.strs(kOfxImageEffectPropSupportedContexts) };
        for i in 0..count {
            // SAFETY: index in range; the struct is the plugin's, valid while loaded.
            let p = unsafe { get(i) };
            assert!(!p.is_null(), "OfxGetPlugin({i}) is null");
            let (api, version, id) = unsafe {
                (CStr::from_ptr((*p).pluginApi), (*p).apiVersion, CStr::from_ptr((*p).pluginIdentifier).to_string_lossy().into_owned())
            };
            assert_eq!(api, kOfxImageEffectPluginApi);
            assert_eq!(version, 1);
            // SAFETY: setHost is mandatory and is the first call (ofxCore.h).
            unsafe { ((*p).setHost.expect("setHost is mandatory"))(&*host as *const OfxHost as *mut OfxHost) };
            ok_or_default(call(p, kOfxActionLoad, std::ptr::null(), None, None), "Load");
            let props = descriptor_props();
            let props = if mlt { props.remove(kOfxPluginPropFilePath) } else { props };
            let descriptor = new_effect(props, true, log.clone());
            if !mlt {
                descriptor
                    .props
                    .set_strs(kOfxPluginPropFilePath, &[binary.parent().unwrap().parent().unwrap().parent().unwrap().to_str().unwrap()]);
            }
            ok_or_default(call(p, kOfxActionDescribe, &*descriptor as *const Effect as *const c_void, None, None), "Describe");
            let mut contexts = HashMap::new();
            for c in descriptor.props.strs(kOfxImageEffectPropSupportedContexts) {
                if !supported.contains(&c) {
                    continue;
                }
                let d = new_effect(descriptor.props.copy("effect descriptor (in context)"), true, log.clone());
                d.props.set_strs(kOfxImageEffectPropContext, &[&c]);
                let inp = action_args("describeInContext in").string(kOfxImageEffectPropContext, 1, &[&c]);
                let s = call(p, kOfxImageEffectActionDescribeInContext, &*d as *const Effect as *const c_void, Some(&inp), None);
                assert_eq!(s, kOfxStatOK, "DescribeInContext {c} of {id}");
                contexts.insert(c, d);
            }
            if contexts.is_empty() {
                // Not offered to the user (MLT: "missing filter context"); done with it.
                ok_or_default(call(p, kOfxActionUnload, std::ptr::null(), None, None), "Unload");
                continue;
            }
            plugins.push(Plugin { ptr: p, id, descriptor, contexts });
        }
        Host { plugins, log, host, host_props, lib: Some(lib), project: (64.0, 64.0), par: 1.0, fps: 8.0, mlt }
    }

    /// Renders `times` as MLT does a frame-threaded filter: for each frame an instance is
    /// created, given its parameter values (`setup`), rendered at the frame's time and destroyed;
    /// `threads` workers take the frames in the order given. Frames come back in that order.
    pub fn render_mlt(&self, id: &str, source: &Source, times: &[i32], threads: usize, setup: &(dyn Fn(&Instance) + Sync)) -> Vec<Frame> {
        let next = AtomicUsize::new(0);
        let out: Mutex<Vec<Option<Frame>>> = Mutex::new(vec![None; times.len()]);
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&t) = times.get(k) else { break };
                    let inst = self.instance(id, "OfxImageEffectContextFilter", Some(source.clone()));
                    setup(&inst);
                    let f = inst.render(t as f64, RenderOpts::default()).unwrap_or_else(|s| panic!("render at {t}: status {s}"));
                    out.lock().unwrap()[k] = Some(f);
                });
            }
        });
        out.into_inner().unwrap().into_iter().map(|f| f.expect("rendered")).collect()
    }

    pub fn plugin(&self, id: &str) -> &Plugin {
        self.plugins.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no plugin {id}"))
    }

    /// Creates an instance of `id` in `context`, with `source` connected as its Source clip.
    pub fn instance(&self, id: &str, context: &str, source: Option<Source>) -> Instance<'_> {
        self.instance_with(id, context, source.into_iter().map(|s| ("Source", s)).collect())
    }

    /// Creates an instance of `id` in `context`, with each source connected to the clip it names.
    pub fn instance_with(&self, id: &str, context: &str, sources: Vec<(&str, Source)>) -> Instance<'_> {
        let plugin = self.plugin(id);
        let d = plugin.contexts.get(context).unwrap_or_else(|| panic!("{id} does not support {context}"));
        let props = d.props.copy("effect instance");
        let props = props
            .int(c"OfxPropIsInteractive", 1, &[0])
            .double(kOfxImageEffectPropProjectExtent, 2, &[self.project.0, self.project.1])
            .double(c"OfxImageEffectPropProjectSize", 2, &[self.project.0, self.project.1])
            .double(kOfxImageEffectPropProjectOffset, 2, &[0.0, 0.0])
            .double(c"OfxImageEffectPropPixelAspectRatio", 1, &[self.par])
            .double(c"OfxImageEffectInstancePropEffectDuration", 1, &[0.0])
            .double(kOfxImageEffectPropFrameRate, 1, &[self.fps])
            .ptr(c"OfxPropInstanceData", 1)
            .read_only(&[kOfxImageEffectPropProjectExtent, kOfxImageEffectPropFrameRate]);
        // MLT 7.40 (mltofx_set_project_properties) writes the project's frame rate onto the
        // effect handle, not the property set getPropertySet returns: plugins cannot read it.
        let props = if self.mlt { props.remove(kOfxImageEffectPropFrameRate) } else { props };
        let e = new_effect(props, false, self.log.clone());
        // Parameters: copies of the descriptor's, at their defaults.
        for p in d.params.params.lock().unwrap().iter() {
            let param = Box::new(Param {
                any_action_sets: self.mlt,
                name: p.name.clone(),
                kind: p.kind.clone(),
                props: p.props.copy("param instance"),
                value: Mutex::new((Value::None, CString::default())),
            });
            let v = default_value(&param);
            param.value.lock().unwrap().0 = v;
            e.params.params.lock().unwrap().push(param);
        }
        let sources: HashMap<String, Arc<Source>> = sources.into_iter().map(|(n, s)| (n.to_string(), Arc::new(s))).collect();
        let depth = "OfxBitDepthByte";
        for c in d.clips.lock().unwrap().iter() {
            let (range, rate, connected) = match (sources.get(&c.name), c.name.as_str()) {
                (Some(s), _) => ([s.first, s.first + s.frames.len() as f64 - 1.0], self.fps, 1),
                (_, "Output") => ([0.0, 0.0], self.fps, 1),
                _ => ([0.0, 0.0], self.fps, 0),
            };
            let props = c
                .props
                .copy("clip instance")
                .string(kOfxImageEffectPropPixelDepth, 1, &[depth])
                .string(kOfxImageEffectPropComponents, 1, &["OfxImageComponentRGBA"])
                .string(c"OfxImageClipPropUnmappedPixelDepth", 1, &[depth])
                .string(c"OfxImageClipPropUnmappedComponents", 1, &["OfxImageComponentRGBA"])
                .string(kOfxImageEffectPropPreMultiplication, 1, &["OfxImageOpaque"])
                .double(c"OfxImagePropPixelAspectRatio", 1, &[self.par])
                .double(kOfxImageEffectPropFrameRate, 1, &[rate])
                .double(kOfxImageEffectPropFrameRange, 2, &range)
                .string(c"OfxImageClipPropFieldOrder", 1, &["OfxFieldNone"])
                .int(kOfxImageClipPropConnected, 1, &[connected])
                .double(c"OfxImageEffectPropUnmappedFrameRange", 2, &range)
                .double(c"OfxImageEffectPropUnmappedFrameRate", 1, &[rate])
                .int(c"OfxImageClipPropContinuousSamples", 1, &[0])
                .read_only(&[
                    kOfxImageEffectPropPixelDepth,
                    kOfxImageEffectPropFrameRange,
                    kOfxImageEffectPropFrameRate,
                    kOfxImageClipPropConnected,
                ]);
            // MLT sets no frame range on clips: reading it is an error.
            // Nor a frame rate: MLT (mlt_openfx.c) sets kOfxImageEffectPropFrameRate on the
            // effect instance only.
            let props = if self.mlt {
                props
                    .remove(kOfxImageEffectPropFrameRange)
                    .remove(c"OfxImageEffectPropUnmappedFrameRange")
                    .remove(kOfxImageEffectPropFrameRate)
                    .remove(c"OfxImageEffectPropUnmappedFrameRate")
            } else {
                props
            };
            let src = sources.get(&c.name).cloned();
            e.clips.lock().unwrap().push(Box::new(Clip { name: c.name.clone(), props, source: src, effect: &*e }));
        }
        let s = call(plugin.ptr, kOfxActionCreateInstance, &*e as *const Effect as *const c_void, None, None);
        assert!(s == kOfxStatOK || s == kOfxStatReplyDefault, "CreateInstance returned {s}");
        let inst = Instance { host: self, plugin: plugin.ptr, effect: e, context: context.into() };
        inst.clip_preferences();
        inst
    }

    /// Unloads one plugin of the binary (hosts may drop plugins they do not use); the others
    /// stay usable.
    pub fn unload_plugin(&mut self, id: &str) {
        let i = self.plugins.iter().position(|p| p.id == id).unwrap_or_else(|| panic!("no plugin {id}"));
        let p = self.plugins.remove(i);
        ok_or_default(call(p.ptr, kOfxActionUnload, std::ptr::null(), None, None), "Unload");
    }

    /// Unload (ofxCore.h). The binary stays mapped until the process exits, as in many hosts:
    /// the next `load` of the same path gets the same library (and its process-wide caches).
    pub fn unload(mut self) {
        for p in &self.plugins {
            ok_or_default(call(p.ptr, kOfxActionUnload, std::ptr::null(), None, None), "Unload");
        }
        self.plugins.clear();
        std::mem::forget(self.lib.take());
    }
}
