//! Clips, images and effects: the image-effect suite.

use super::*;

/// RGBA8 frames (top row first) that the host serves as a source clip.
#[derive(Clone)]
pub struct Source {
    pub width: u32,
    pub height: u32,
    pub first: f64,
    pub frames: Vec<Vec<u8>>,
}

pub struct Clip {
    pub name: String,
    pub props: Box<PropSet>,
    pub(super) source: Option<Arc<Source>>,
    pub(super) effect: *const Effect,
}

/// Host state shared by everything one host made: what the plugin told the user, progress,
/// images handed out, and the abort switch.
#[derive(Default)]
pub struct Log {
    pub messages: Mutex<Vec<(String, String)>>,
    pub progress: Mutex<Vec<String>>,
    pub images_out: AtomicUsize,
    /// Source frames fetched outside the ranges GetFramesNeeded declared.
    pub violations: Mutex<Vec<String>>,
    /// Abort once this many progress updates have been seen (0: never).
    pub abort_after: AtomicUsize,
    pub updates: AtomicUsize,
    pub aborted: AtomicBool,
    /// Progress updates answered "no" (kOfxStatReplyNo) before the bar is shown: a render
    /// thread's bar that Natron has not yet started on its main thread.
    pub progress_pending: AtomicUsize,
    /// Once this many updates have been seen, the user presses the bar's Cancel: later updates
    /// are answered "no" (0: never).
    pub cancel_after: AtomicUsize,
    /// MLT-like host: every source fetch returns the frame being rendered, whatever the time.
    pub mlt: AtomicBool,
}

pub struct Effect {
    pub props: Box<PropSet>,
    pub params: Box<ParamSet>,
    /// Boxed: clip handles are their addresses.
    #[allow(clippy::vec_box)]
    pub clips: Mutex<Vec<Box<Clip>>>,
    pub(super) descriptor: bool,
    pub(super) log: Arc<Log>,
    /// Images this instance fetched and has not released (renders run in many threads at once,
    /// so each instance keeps its own count).
    pub(super) images_out: Arc<AtomicUsize>,
    /// During Render: the output image's layout; the frames each clip may be asked for.
    pub(super) render: Mutex<Option<RenderState>>,
}

impl Effect {
    /// The project's pixel aspect ratio, which every clip and image of this host shares.
    pub(super) fn par(&self) -> f64 {
        match self.props.get(c"OfxImageEffectPropPixelAspectRatio") {
            Some(super::props::Vals::Double(v)) => v[0],
            _ => 1.0,
        }
    }
}

#[derive(Clone)]
pub(super) struct RenderState {
    pub(super) time: f64,
    pub(super) scale: [f64; 2],
    pub(super) depth: &'static CStr,
    pub(super) negative_rows: bool,
    pub(super) output: Arc<Buffer>,
    pub(super) output_rect: OfxRectI,
    /// Per input clip, the frame ranges GetFramesNeeded declared.
    pub(super) needed: HashMap<String, Vec<(f64, f64)>>,
}

/// Pixel memory, shared by the host and the image handle it hands out.
pub struct Buffer {
    pub(super) bytes: Mutex<Vec<u8>>,
    pub(super) ptr: usize,
    pub stride: usize,
    pub rows: usize,
}

impl Buffer {
    pub(super) fn new(stride: usize, rows: usize) -> Arc<Buffer> {
        let mut bytes = vec![0xAAu8; stride * rows]; // not zero: the plugin must write every pixel
        let ptr = bytes.as_mut_ptr() as usize;
        Arc::new(Buffer { bytes: Mutex::new(bytes), ptr, stride, rows })
    }
}

pub(super) struct Image {
    pub(super) props: Box<PropSet>,
    pub(super) _buf: Arc<Buffer>,
    pub(super) log: Arc<Log>,
    pub(super) owner: Arc<AtomicUsize>,
}

pub(super) fn images() -> &'static Mutex<HashMap<usize, Box<Image>>> {
    static I: std::sync::OnceLock<Mutex<HashMap<usize, Box<Image>>>> = std::sync::OnceLock::new();
    I.get_or_init(Default::default)
}

pub(super) fn bytes_per_channel(depth: &CStr) -> usize {
    match depth.to_bytes() {
        b"OfxBitDepthByte" => 1,
        b"OfxBitDepthShort" => 2,
        _ => 4,
    }
}

pub(super) fn store(depth: &CStr, dst: &mut [u8], rgba: [u8; 4]) {
    for (c, v) in rgba.iter().enumerate() {
        match depth.to_bytes() {
            b"OfxBitDepthByte" => dst[c] = *v,
            b"OfxBitDepthShort" => dst[2 * c..2 * c + 2].copy_from_slice(&(*v as u16 * 257).to_ne_bytes()),
            _ => dst[4 * c..4 * c + 4].copy_from_slice(&(*v as f32 / 255.0).to_ne_bytes()),
        }
    }
}

pub(super) fn load_px(depth: &CStr, src: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    for (c, o) in out.iter_mut().enumerate() {
        *o = match depth.to_bytes() {
            b"OfxBitDepthByte" => src[c],
            b"OfxBitDepthShort" => {
                let v = u16::from_ne_bytes([src[2 * c], src[2 * c + 1]]);
                assert_eq!(v % 257, 0, "short value {v} is not an 8-bit value scaled by 257");
                (v / 257) as u8
            }
            _ => {
                let v = f32::from_ne_bytes(src[4 * c..4 * c + 4].try_into().unwrap());
                let b = (v * 255.0).round();
                assert!((v * 255.0 - b).abs() < 1e-3, "float value {v} is not an 8-bit value / 255");
                b as u8
            }
        };
    }
    out
}

/// Image properties (ofxImageEffect.h) for a buffer covering `rect` (pixel coordinates).
pub(super) fn image_props(depth: &CStr, rect: OfxRectI, scale: [f64; 2], par: f64, buf: &Buffer, negative_rows: bool) -> Box<PropSet> {
    let (data, row_bytes) = if negative_rows {
        // Rows top-down in memory: the bottom row (y1) is the last, and going up is going back.
        (buf.ptr + (buf.rows - 1) * buf.stride, -(buf.stride as i64))
    } else {
        (buf.ptr, buf.stride as i64)
    };
    let r = [rect.x1, rect.y1, rect.x2, rect.y2];
    let p = PropSet::new("image")
        .string(kOfxPropType, 1, &["OfxTypeImage"])
        .string(kOfxImageEffectPropPixelDepth, 1, &[depth.to_str().unwrap()])
        .string(kOfxImageEffectPropComponents, 1, &["OfxImageComponentRGBA"])
        .string(kOfxImageEffectPropPreMultiplication, 1, &["OfxImageOpaque"])
        .double(kOfxImageEffectPropRenderScale, 2, &scale)
        .double(c"OfxImagePropPixelAspectRatio", 1, &[par])
        .ptr(kOfxImagePropData, 1)
        .int(kOfxImagePropBounds, 4, &r)
        .int(c"OfxImagePropRegionOfDefinition", 4, &r)
        .int(kOfxImagePropRowBytes, 1, &[row_bytes as i32])
        .string(c"OfxImagePropField", 1, &["OfxFieldNone"])
        .string(c"OfxImagePropUniqueIdentifier", 1, &["img"]);
    p.set_ptr(kOfxImagePropData, data);
    let all: Vec<&CStr> = vec![
        kOfxPropType,
        kOfxImageEffectPropPixelDepth,
        kOfxImageEffectPropComponents,
        kOfxImageEffectPropPreMultiplication,
        kOfxImageEffectPropRenderScale,
        kOfxImagePropData,
        kOfxImagePropBounds,
        kOfxImagePropRowBytes,
    ];
    p.read_only(&all)
}

/// Offset of pixel (x, y) of `rect` in a buffer laid out as `image_props` describes.
pub(super) fn offset(rect: OfxRectI, buf: &Buffer, negative_rows: bool, bpp: usize, x: i32, y: i32) -> usize {
    let row = if negative_rows { buf.rows - 1 - (y - rect.y1) as usize } else { (y - rect.y1) as usize };
    row * buf.stride + (x - rect.x1) as usize * bpp
}

pub(super) unsafe extern "C" fn get_property_set(e: OfxImageEffectHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: an effect handle this host gave out; a writable pointer.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = e.props.handle() };
    kOfxStatOK
}

pub(super) unsafe extern "C" fn get_param_set(e: OfxImageEffectHandle, out: *mut OfxParamSetHandle) -> OfxStatus {
    // SAFETY: as get_property_set.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = &*e.params as *const ParamSet as OfxParamSetHandle };
    kOfxStatOK
}

pub(super) fn clip_descriptor_props(name: &str) -> Box<PropSet> {
    PropSet::new(&format!("clip descriptor {name}"))
        .string(kOfxPropType, 1, &["OfxTypeClip"])
        .string(kOfxPropName, 1, &[name])
        .string(kOfxPropLabel, 1, &[name])
        .string(c"OfxPropShortLabel", 1, &[name])
        .string(c"OfxPropLongLabel", 1, &[name])
        .string(kOfxImageEffectPropSupportedComponents, 0, &[])
        .int(kOfxImageEffectPropTemporalClipAccess, 1, &[0])
        .int(c"OfxImageClipPropOptional", 1, &[0])
        .string(c"OfxImageClipPropFieldExtraction", 1, &["OfxFieldDoubled"])
        .int(c"OfxImageClipPropIsMask", 1, &[0])
        .int(kOfxImageEffectPropSupportsTiles, 1, &[1])
        .read_only(&[kOfxPropType, kOfxPropName])
}

pub(super) unsafe extern "C" fn clip_define(e: OfxImageEffectHandle, name: *const c_char, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: as get_property_set.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return kOfxStatErrBadHandle };
    if !e.descriptor {
        return kOfxStatErrBadHandle;
    }
    let Ok(name) = name_of(name) else { return kOfxStatErrUnknown };
    let mut clips = e.clips.lock().unwrap();
    if clips.iter().any(|c| c.name == name) {
        return kOfxStatErrExists;
    }
    let c = Box::new(Clip { props: clip_descriptor_props(&name), name, source: None, effect: e });
    // SAFETY: a writable pointer.
    unsafe { *out = c.props.handle() };
    clips.push(c);
    kOfxStatOK
}

pub(super) unsafe extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    name: *const c_char,
    out: *mut OfxImageClipHandle,
    props_out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: as get_property_set.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return kOfxStatErrBadHandle };
    if e.descriptor {
        return kOfxStatErrBadHandle;
    }
    let Ok(name) = name_of(name) else { return kOfxStatErrUnknown };
    let clips = e.clips.lock().unwrap();
    let Some(c) = clips.iter().find(|c| c.name == name) else { return kOfxStatErrUnknown };
    // SAFETY: writable pointers (props_out may be null).
    unsafe {
        *out = &**c as *const Clip as OfxImageClipHandle;
        if !props_out.is_null() {
            *props_out = c.props.handle();
        }
    }
    kOfxStatOK
}

pub(super) unsafe extern "C" fn clip_get_property_set(c: OfxImageClipHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    // SAFETY: a clip handle this host gave out; a writable pointer.
    let Some(c) = (unsafe { (c as *const Clip).as_ref() }) else { return kOfxStatErrBadHandle };
    unsafe { *out = c.props.handle() };
    kOfxStatOK
}

pub(super) unsafe extern "C" fn clip_get_image(
    c: OfxImageClipHandle,
    time: OfxTime,
    _region: *const OfxRectD,
    out: *mut OfxPropertySetHandle,
) -> OfxStatus {
    // SAFETY: a clip handle this host gave out, whose effect outlives it.
    let Some(c) = (unsafe { (c as *const Clip).as_ref() }) else { return kOfxStatErrBadHandle };
    let e = unsafe { &*c.effect };
    let rs = e.render.lock().unwrap().clone();
    let (props, buf) = if c.name == "Output" {
        // The output image exists only during Render, at the time rendered.
        let Some(rs) = rs.filter(|rs| rs.time == time) else { return kOfxStatFailed };
        let p = image_props(rs.depth, rs.output_rect, rs.scale, e.par(), &rs.output, rs.negative_rows);
        (p, rs.output.clone())
    } else {
        let Some(src) = c.source.as_ref() else { return kOfxStatFailed };
        // MLT's clipGetImage ignores the time asked: it has the frame being rendered, only then.
        let mlt = e.log.mlt.load(Ordering::SeqCst);
        let served = match (&rs, mlt) {
            (Some(rs), true) => rs.time,
            (None, true) => return kOfxStatFailed,
            (_, false) => time,
        };
        let i = (served - src.first).round();
        if i < 0.0 || i as usize >= src.frames.len() {
            return kOfxStatFailed;
        }
        // Outside Render (e.g. InstanceChanged): full scale, bytes.
        let (scale, depth, negative_rows) =
            rs.as_ref().map_or(([1.0, 1.0], kOfxBitDepthByte, false), |rs| (rs.scale, rs.depth, rs.negative_rows));
        if let Some(rs) = &rs {
            let ranges = rs.needed.get(&c.name).cloned().unwrap_or_default();
            if !ranges.iter().any(|(a, b)| time >= a - 1e-9 && time <= b + 1e-9) {
                e.log.violations.lock().unwrap().push(format!("render at {} fetched {} frame {time} outside {ranges:?}", rs.time, c.name));
            }
        }
        // At render scale, nearest neighbour.
        let (w, h) = (((src.width as f64) * scale[0]).round() as i32, ((src.height as f64) * scale[1]).round() as i32);
        let rect = OfxRectI { x1: 0, y1: 0, x2: w, y2: h };
        let bpp = 4 * bytes_per_channel(depth);
        let buf = Buffer::new(w as usize * bpp + 12, h as usize);
        {
            let mut bytes = buf.bytes.lock().unwrap();
            let frame = &src.frames[i as usize];
            for y in 0..h {
                for x in 0..w {
                    let sx = ((x as f64 + 0.5) / scale[0]) as u32;
                    let sy = ((y as f64 + 0.5) / scale[1]) as u32;
                    // Source frames are top row first; pixel y counts up from the bottom.
                    let top = src.height - 1 - sy.min(src.height - 1);
                    let k = 4 * (top * src.width + sx.min(src.width - 1)) as usize;
                    let px = [frame[k], frame[k + 1], frame[k + 2], frame[k + 3]];
                    let o = offset(rect, &buf, negative_rows, bpp, x, y);
                    store(depth, &mut bytes[o..o + bpp], px);
                }
            }
        }
        (image_props(depth, rect, scale, e.par(), &buf, negative_rows), buf)
    };
    let img = Box::new(Image { props, _buf: buf, log: e.log.clone(), owner: e.images_out.clone() });
    e.images_out.fetch_add(1, Ordering::SeqCst);
    let h = img.props.handle();
    images().lock().unwrap().insert(h as usize, img);
    e.log.images_out.fetch_add(1, Ordering::SeqCst);
    // SAFETY: a writable pointer.
    unsafe { *out = h };
    kOfxStatOK
}

pub(super) unsafe extern "C" fn clip_release_image(h: OfxPropertySetHandle) -> OfxStatus {
    match images().lock().unwrap().remove(&(h as usize)) {
        Some(img) => {
            img.log.images_out.fetch_sub(1, Ordering::SeqCst);
            img.owner.fetch_sub(1, Ordering::SeqCst);
            kOfxStatOK
        }
        None => kOfxStatErrBadHandle,
    }
}

pub(super) unsafe extern "C" fn clip_get_region_of_definition(c: OfxImageClipHandle, _t: OfxTime, out: *mut OfxRectD) -> OfxStatus {
    // SAFETY: a clip handle this host gave out; a writable pointer.
    let Some(c) = (unsafe { (c as *const Clip).as_ref() }) else { return kOfxStatErrBadHandle };
    // SAFETY: the clip's effect outlives it.
    let e = unsafe { &*c.effect };
    let r = match &c.source {
        // Canonical coordinates: a pixel `par` wide spans `par` units.
        Some(s) => OfxRectD { x1: 0.0, y1: 0.0, x2: s.width as f64 * e.par(), y2: s.height as f64 },
        None => {
            let ext = e.props.doubles(kOfxImageEffectPropProjectExtent);
            OfxRectD { x1: 0.0, y1: 0.0, x2: ext[0], y2: ext[1] }
        }
    };
    unsafe { *out = r };
    kOfxStatOK
}

pub(super) unsafe extern "C" fn abort(e: OfxImageEffectHandle) -> c_int {
    // SAFETY: an effect handle this host gave out.
    let Some(e) = (unsafe { (e as *const Effect).as_ref() }) else { return 0 };
    let after = e.log.abort_after.load(Ordering::SeqCst);
    let hit = after > 0 && e.log.updates.load(Ordering::SeqCst) >= after;
    if hit {
        e.log.aborted.store(true, Ordering::SeqCst);
    }
    hit as c_int
}

pub(super) unsafe extern "C" fn image_memory_alloc(_e: OfxImageEffectHandle, n: usize, out: *mut OfxImageMemoryHandle) -> OfxStatus {
    // SAFETY: the same contract as memoryAlloc: a writable handle pointer.
    unsafe { memory_alloc(std::ptr::null_mut(), n, out) }
}
pub(super) unsafe extern "C" fn image_memory_free(h: OfxImageMemoryHandle) -> OfxStatus {
    unsafe { memory_free(h) }
}
pub(super) unsafe extern "C" fn image_memory_lock(h: OfxImageMemoryHandle, out: *mut *mut c_void) -> OfxStatus {
    if !blocks().lock().unwrap().contains_key(&(h as usize)) {
        return kOfxStatErrBadHandle;
    }
    // SAFETY: a writable pointer; the block's address is its handle.
    unsafe { *out = h };
    kOfxStatOK
}
pub(super) unsafe extern "C" fn image_memory_unlock(h: OfxImageMemoryHandle) -> OfxStatus {
    if blocks().lock().unwrap().contains_key(&(h as usize)) {
        kOfxStatOK
    } else {
        kOfxStatErrBadHandle
    }
}

pub(super) static IMAGE_EFFECT_SUITE: OfxImageEffectSuiteV1 = OfxImageEffectSuiteV1 {
    getPropertySet: get_property_set,
    getParamSet: get_param_set,
    clipDefine: clip_define,
    clipGetHandle: clip_get_handle,
    clipGetPropertySet: clip_get_property_set,
    clipGetImage: clip_get_image,
    clipReleaseImage: clip_release_image,
    clipGetRegionOfDefinition: clip_get_region_of_definition,
    abort,
    imageMemoryAlloc: image_memory_alloc,
    imageMemoryFree: image_memory_free,
    imageMemoryLock: image_memory_lock,
    imageMemoryUnlock: image_memory_unlock,
};
