//! The part of the OpenFX C ABI (API 1.4/1.5, AcademySoftwareFoundation/openfx `include/`) that
//! kino uses, written out in Rust. Each item names the header it comes from; names keep the C
//! spelling so they can be looked up there.
#![allow(non_upper_case_globals, non_snake_case, dead_code)]

use std::ffi::{c_char, c_double, c_int, c_uint, c_void, CStr};

// ---- ofxCore.h ----

/// `OfxStatus` (ofxCore.h): a plain int.
pub type OfxStatus = c_int;
/// `OfxPropertySetHandle`: opaque, owned by the host.
pub type OfxPropertySetHandle = *mut c_void;
/// `OfxTime`: a double, in frames of the clip's rate.
pub type OfxTime = c_double;

/// `OfxHost` (ofxCore.h).
#[repr(C)]
pub struct OfxHost {
    pub host: OfxPropertySetHandle,
    pub fetchSuite:
        Option<unsafe extern "C" fn(host: OfxPropertySetHandle, suiteName: *const c_char, suiteVersion: c_int) -> *const c_void>,
}

/// `OfxPluginEntryPoint` (ofxCore.h).
pub type OfxPluginEntryPoint = unsafe extern "C" fn(
    action: *const c_char,
    handle: *const c_void,
    inArgs: OfxPropertySetHandle,
    outArgs: OfxPropertySetHandle,
) -> OfxStatus;

/// `OfxPlugin` (ofxCore.h): one per effect, returned by `OfxGetPlugin`.
#[repr(C)]
pub struct OfxPlugin {
    pub pluginApi: *const c_char,
    pub apiVersion: c_int,
    pub pluginIdentifier: *const c_char,
    pub pluginVersionMajor: c_uint,
    pub pluginVersionMinor: c_uint,
    pub setHost: Option<unsafe extern "C" fn(host: *mut OfxHost)>,
    pub mainEntry: Option<OfxPluginEntryPoint>,
}

/// `OfxRectI` / `OfxRectD` / `OfxRangeD` (ofxCore.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRectI {
    pub x1: c_int,
    pub y1: c_int,
    pub x2: c_int,
    pub y2: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRectD {
    pub x1: c_double,
    pub y1: c_double,
    pub x2: c_double,
    pub y2: c_double,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OfxRangeD {
    pub min: c_double,
    pub max: c_double,
}

// Status codes (ofxCore.h; kOfxStatErrImageFormat from ofxImageEffect.h).
pub const kOfxStatOK: OfxStatus = 0;
pub const kOfxStatFailed: OfxStatus = 1;
pub const kOfxStatErrFatal: OfxStatus = 2;
pub const kOfxStatErrUnknown: OfxStatus = 3;
pub const kOfxStatErrMissingHostFeature: OfxStatus = 4;
pub const kOfxStatErrUnsupported: OfxStatus = 5;
pub const kOfxStatErrExists: OfxStatus = 6;
pub const kOfxStatErrFormat: OfxStatus = 7;
pub const kOfxStatErrMemory: OfxStatus = 8;
pub const kOfxStatErrBadHandle: OfxStatus = 9;
pub const kOfxStatErrBadIndex: OfxStatus = 10;
pub const kOfxStatErrValue: OfxStatus = 11;
pub const kOfxStatReplyYes: OfxStatus = 12;
pub const kOfxStatReplyNo: OfxStatus = 13;
pub const kOfxStatReplyDefault: OfxStatus = 14;
pub const kOfxStatErrImageFormat: OfxStatus = 1000;

// Actions (ofxCore.h).
pub const kOfxActionLoad: &CStr = c"OfxActionLoad";
pub const kOfxActionDescribe: &CStr = c"OfxActionDescribe";
pub const kOfxActionUnload: &CStr = c"OfxActionUnload";
pub const kOfxActionPurgeCaches: &CStr = c"OfxActionPurgeCaches";
pub const kOfxActionCreateInstance: &CStr = c"OfxActionCreateInstance";
pub const kOfxActionDestroyInstance: &CStr = c"OfxActionDestroyInstance";
pub const kOfxActionInstanceChanged: &CStr = c"OfxActionInstanceChanged";

// Properties (ofxCore.h).
pub const kOfxPropTime: &CStr = c"OfxPropTime";
pub const kOfxPropType: &CStr = c"OfxPropType";
pub const kOfxPropName: &CStr = c"OfxPropName";
pub const kOfxPropLabel: &CStr = c"OfxPropLabel";
pub const kOfxPropPluginDescription: &CStr = c"OfxPropPluginDescription";
pub const kOfxPropChangeReason: &CStr = c"OfxPropChangeReason";
pub const kOfxPluginPropFilePath: &CStr = c"OfxPluginPropFilePath";

// Pixel depths (ofxCore.h).
pub const kOfxBitDepthNone: &CStr = c"OfxBitDepthNone";
pub const kOfxBitDepthByte: &CStr = c"OfxBitDepthByte";
pub const kOfxBitDepthShort: &CStr = c"OfxBitDepthShort";
pub const kOfxBitDepthFloat: &CStr = c"OfxBitDepthFloat";

// ---- ofxProperty.h ----

pub const kOfxPropertySuite: &CStr = c"OfxPropertySuite";

/// `OfxPropertySuiteV1` (ofxProperty.h), in declaration order.
#[repr(C)]
pub struct OfxPropertySuiteV1 {
    pub propSetPointer: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut c_void) -> OfxStatus,
    pub propSetString: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *const c_char) -> OfxStatus,
    pub propSetDouble: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, c_double) -> OfxStatus,
    pub propSetInt: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, c_int) -> OfxStatus,
    pub propSetPointerN: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *const *mut c_void) -> OfxStatus,
    pub propSetStringN: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *const *const c_char) -> OfxStatus,
    pub propSetDoubleN: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *const c_double) -> OfxStatus,
    pub propSetIntN: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *const c_int) -> OfxStatus,
    pub propGetPointer: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut *mut c_void) -> OfxStatus,
    pub propGetString: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut *mut c_char) -> OfxStatus,
    pub propGetDouble: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut c_double) -> OfxStatus,
    pub propGetInt: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut c_int) -> OfxStatus,
    pub propGetPointerN: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut *mut c_void) -> OfxStatus,
    pub propGetStringN: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut *mut c_char) -> OfxStatus,
    pub propGetDoubleN: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut c_double) -> OfxStatus,
    pub propGetIntN: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, c_int, *mut c_int) -> OfxStatus,
    pub propReset: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char) -> OfxStatus,
    pub propGetDimension: unsafe extern "C" fn(OfxPropertySetHandle, *const c_char, *mut c_int) -> OfxStatus,
}

// ---- ofxParam.h ----

pub type OfxParamHandle = *mut c_void;
pub type OfxParamSetHandle = *mut c_void;

pub const kOfxParameterSuite: &CStr = c"OfxParameterSuite";

/// `OfxParameterSuiteV1` (ofxParam.h). The value functions are C-variadic: the value (or
/// pointers to receive it) follows the fixed arguments, typed by the parameter's type.
#[repr(C)]
pub struct OfxParameterSuiteV1 {
    pub paramDefine: unsafe extern "C" fn(OfxParamSetHandle, *const c_char, *const c_char, *mut OfxPropertySetHandle) -> OfxStatus,
    pub paramGetHandle: unsafe extern "C" fn(OfxParamSetHandle, *const c_char, *mut OfxParamHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    pub paramSetGetPropertySet: unsafe extern "C" fn(OfxParamSetHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    pub paramGetPropertySet: unsafe extern "C" fn(OfxParamHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    pub paramGetValue: unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus,
    pub paramGetValueAtTime: unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus,
    pub paramGetDerivative: unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus,
    pub paramGetIntegral: unsafe extern "C" fn(OfxParamHandle, OfxTime, OfxTime, ...) -> OfxStatus,
    pub paramSetValue: unsafe extern "C" fn(OfxParamHandle, ...) -> OfxStatus,
    pub paramSetValueAtTime: unsafe extern "C" fn(OfxParamHandle, OfxTime, ...) -> OfxStatus,
    pub paramGetNumKeys: unsafe extern "C" fn(OfxParamHandle, *mut c_uint) -> OfxStatus,
    pub paramGetKeyTime: unsafe extern "C" fn(OfxParamHandle, c_uint, *mut OfxTime) -> OfxStatus,
    pub paramGetKeyIndex: unsafe extern "C" fn(OfxParamHandle, OfxTime, c_int, *mut c_int) -> OfxStatus,
    pub paramDeleteKey: unsafe extern "C" fn(OfxParamHandle, OfxTime) -> OfxStatus,
    pub paramDeleteAllKeys: unsafe extern "C" fn(OfxParamHandle) -> OfxStatus,
    pub paramCopy: unsafe extern "C" fn(OfxParamHandle, OfxParamHandle, OfxTime, *const OfxRangeD) -> OfxStatus,
    pub paramEditBegin: unsafe extern "C" fn(OfxParamSetHandle, *const c_char) -> OfxStatus,
    pub paramEditEnd: unsafe extern "C" fn(OfxParamSetHandle) -> OfxStatus,
}

pub const kOfxParamTypeInteger: &CStr = c"OfxParamTypeInteger";
pub const kOfxParamTypeDouble: &CStr = c"OfxParamTypeDouble";
pub const kOfxParamTypeChoice: &CStr = c"OfxParamTypeChoice";
pub const kOfxParamTypeBoolean: &CStr = c"OfxParamTypeBoolean";
pub const kOfxParamTypeString: &CStr = c"OfxParamTypeString";
pub const kOfxParamTypePushButton: &CStr = c"OfxParamTypePushButton";

pub const kOfxParamPropType: &CStr = c"OfxParamPropType";
pub const kOfxParamPropAnimates: &CStr = c"OfxParamPropAnimates";
pub const kOfxParamPropPersistant: &CStr = c"OfxParamPropPersistant";
pub const kOfxParamPropEvaluateOnChange: &CStr = c"OfxParamPropEvaluateOnChange";
pub const kOfxParamPropHint: &CStr = c"OfxParamPropHint";
pub const kOfxParamPropDefault: &CStr = c"OfxParamPropDefault";
pub const kOfxParamPropEnabled: &CStr = c"OfxParamPropEnabled";
pub const kOfxParamPropChoiceOption: &CStr = c"OfxParamPropChoiceOption";
pub const kOfxParamPropMin: &CStr = c"OfxParamPropMin";
pub const kOfxParamPropMax: &CStr = c"OfxParamPropMax";
pub const kOfxParamPropDisplayMin: &CStr = c"OfxParamPropDisplayMin";
pub const kOfxParamPropDisplayMax: &CStr = c"OfxParamPropDisplayMax";
pub const kOfxParamPropIncrement: &CStr = c"OfxParamPropIncrement";
pub const kOfxParamPropDigits: &CStr = c"OfxParamPropDigits";
pub const kOfxParamPropStringMode: &CStr = c"OfxParamPropStringMode";
pub const kOfxParamPropStringFilePathExists: &CStr = c"OfxParamPropStringFilePathExists";
pub const kOfxParamStringIsSingleLine: &CStr = c"OfxParamStringIsSingleLine";
pub const kOfxParamStringIsMultiLine: &CStr = c"OfxParamStringIsMultiLine";
pub const kOfxParamStringIsDirectoryPath: &CStr = c"OfxParamStringIsDirectoryPath";
pub const kOfxParamStringIsLabel: &CStr = c"OfxParamStringIsLabel";

// ---- ofxImageEffect.h ----

pub type OfxImageEffectHandle = *mut c_void;
pub type OfxImageClipHandle = *mut c_void;
pub type OfxImageMemoryHandle = *mut c_void;

pub const kOfxImageEffectPluginApi: &CStr = c"OfxImageEffectPluginAPI";
pub const kOfxImageEffectPluginApiVersion: c_int = 1;
pub const kOfxImageEffectSuite: &CStr = c"OfxImageEffectSuite";

/// `OfxImageEffectSuiteV1` (ofxImageEffect.h).
#[repr(C)]
pub struct OfxImageEffectSuiteV1 {
    pub getPropertySet: unsafe extern "C" fn(OfxImageEffectHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    pub getParamSet: unsafe extern "C" fn(OfxImageEffectHandle, *mut OfxParamSetHandle) -> OfxStatus,
    pub clipDefine: unsafe extern "C" fn(OfxImageEffectHandle, *const c_char, *mut OfxPropertySetHandle) -> OfxStatus,
    pub clipGetHandle:
        unsafe extern "C" fn(OfxImageEffectHandle, *const c_char, *mut OfxImageClipHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    pub clipGetPropertySet: unsafe extern "C" fn(OfxImageClipHandle, *mut OfxPropertySetHandle) -> OfxStatus,
    pub clipGetImage: unsafe extern "C" fn(OfxImageClipHandle, OfxTime, *const OfxRectD, *mut OfxPropertySetHandle) -> OfxStatus,
    pub clipReleaseImage: unsafe extern "C" fn(OfxPropertySetHandle) -> OfxStatus,
    pub clipGetRegionOfDefinition: unsafe extern "C" fn(OfxImageClipHandle, OfxTime, *mut OfxRectD) -> OfxStatus,
    pub abort: unsafe extern "C" fn(OfxImageEffectHandle) -> c_int,
    pub imageMemoryAlloc: unsafe extern "C" fn(OfxImageEffectHandle, usize, *mut OfxImageMemoryHandle) -> OfxStatus,
    pub imageMemoryFree: unsafe extern "C" fn(OfxImageMemoryHandle) -> OfxStatus,
    pub imageMemoryLock: unsafe extern "C" fn(OfxImageMemoryHandle, *mut *mut c_void) -> OfxStatus,
    pub imageMemoryUnlock: unsafe extern "C" fn(OfxImageMemoryHandle) -> OfxStatus,
}

pub const kOfxImageComponentRGBA: &CStr = c"OfxImageComponentRGBA";

pub const kOfxImageEffectContextGenerator: &CStr = c"OfxImageEffectContextGenerator";
pub const kOfxImageEffectContextFilter: &CStr = c"OfxImageEffectContextFilter";
pub const kOfxImageEffectContextGeneral: &CStr = c"OfxImageEffectContextGeneral";
pub const kOfxImageEffectContextTransition: &CStr = c"OfxImageEffectContextTransition";

pub const kOfxImageEffectActionGetRegionOfDefinition: &CStr = c"OfxImageEffectActionGetRegionOfDefinition";
pub const kOfxImageEffectActionGetRegionsOfInterest: &CStr = c"OfxImageEffectActionGetRegionsOfInterest";
pub const kOfxImageEffectActionGetTimeDomain: &CStr = c"OfxImageEffectActionGetTimeDomain";
pub const kOfxImageEffectActionGetFramesNeeded: &CStr = c"OfxImageEffectActionGetFramesNeeded";
pub const kOfxImageEffectActionGetClipPreferences: &CStr = c"OfxImageEffectActionGetClipPreferences";
pub const kOfxImageEffectActionIsIdentity: &CStr = c"OfxImageEffectActionIsIdentity";
pub const kOfxImageEffectActionRender: &CStr = c"OfxImageEffectActionRender";
pub const kOfxImageEffectActionDescribeInContext: &CStr = c"OfxImageEffectActionDescribeInContext";

pub const kOfxImageEffectPropSupportedContexts: &CStr = c"OfxImageEffectPropSupportedContexts";
pub const kOfxImageEffectPluginRenderThreadSafety: &CStr = c"OfxImageEffectPluginRenderThreadSafety";
pub const kOfxImageEffectRenderFullySafe: &CStr = c"OfxImageEffectRenderFullySafe";
pub const kOfxImageEffectPluginPropHostFrameThreading: &CStr = c"OfxImageEffectPluginPropHostFrameThreading";
pub const kOfxImageEffectPropSupportsMultipleClipDepths: &CStr = c"OfxImageEffectPropMultipleClipDepths";
pub const kOfxImageEffectPluginPropGrouping: &CStr = c"OfxImageEffectPluginPropGrouping";
pub const kOfxImageEffectPropSupportsMultiResolution: &CStr = c"OfxImageEffectPropSupportsMultiResolution";
pub const kOfxImageEffectPropSupportsTiles: &CStr = c"OfxImageEffectPropSupportsTiles";
pub const kOfxImageEffectPropTemporalClipAccess: &CStr = c"OfxImageEffectPropTemporalClipAccess";
pub const kOfxImageEffectPropContext: &CStr = c"OfxImageEffectPropContext";
pub const kOfxImageEffectPropPixelDepth: &CStr = c"OfxImageEffectPropPixelDepth";
pub const kOfxImageEffectPropComponents: &CStr = c"OfxImageEffectPropComponents";
pub const kOfxImageEffectPropPreMultiplication: &CStr = c"OfxImageEffectPropPreMultiplication";
pub const kOfxImageOpaque: &CStr = c"OfxImageOpaque";
pub const kOfxImagePreMultiplied: &CStr = c"OfxImagePreMultiplied";
pub const kOfxImageEffectPropSupportedPixelDepths: &CStr = c"OfxImageEffectPropSupportedPixelDepths";
pub const kOfxImageEffectPropSupportedComponents: &CStr = c"OfxImageEffectPropSupportedComponents";
pub const kOfxImageClipPropConnected: &CStr = c"OfxImageClipPropConnected";
pub const kOfxImageEffectPropFrameRate: &CStr = c"OfxImageEffectPropFrameRate";
pub const kOfxImageEffectPropFrameRange: &CStr = c"OfxImageEffectPropFrameRange";
pub const kOfxImageEffectFrameVarying: &CStr = c"OfxImageEffectFrameVarying";
pub const kOfxImageEffectPropRenderScale: &CStr = c"OfxImageEffectPropRenderScale";
pub const kOfxImageEffectPropInteractiveRenderStatus: &CStr = c"OfxImageEffectPropInteractiveRenderStatus";
pub const kOfxImageEffectPropProjectExtent: &CStr = c"OfxImageEffectPropProjectExtent";
pub const kOfxImageEffectPropProjectSize: &CStr = c"OfxImageEffectPropProjectSize";
pub const kOfxImageEffectPropProjectOffset: &CStr = c"OfxImageEffectPropProjectOffset";
pub const kOfxImagePropData: &CStr = c"OfxImagePropData";
pub const kOfxImagePropBounds: &CStr = c"OfxImagePropBounds";
pub const kOfxImagePropPixelAspectRatio: &CStr = c"OfxImagePropPixelAspectRatio";
pub const kOfxImagePropRowBytes: &CStr = c"OfxImagePropRowBytes";
pub const kOfxImageEffectPropRegionOfDefinition: &CStr = c"OfxImageEffectPropRegionOfDefinition";
pub const kOfxImageEffectPropRenderWindow: &CStr = c"OfxImageEffectPropRenderWindow";

/// Clip names (ofxImageEffect.h).
pub const kOfxImageEffectOutputClipName: &CStr = c"Output";
pub const kOfxImageEffectSimpleSourceClipName: &CStr = c"Source";
pub const kOfxImageEffectTransitionSourceFromClipName: &CStr = c"SourceFrom";
pub const kOfxImageEffectTransitionSourceToClipName: &CStr = c"SourceTo";
/// The transition context's mandated parameter: the host's progress through it, 0 to 1.
pub const kOfxImageEffectTransitionParamName: &CStr = c"Transition";

// ---- ofxMessage.h ----

pub const kOfxMessageSuite: &CStr = c"OfxMessageSuite";
pub const kOfxMessageError: &CStr = c"OfxMessageError";
pub const kOfxMessageLog: &CStr = c"OfxMessageLog";
pub const kOfxMessageWarning: &CStr = c"OfxMessageWarning";
pub const kOfxMessageMessage: &CStr = c"OfxMessageMessage";

/// `OfxMessageSuiteV1` (ofxMessage.h); `format` is printf-style, so kino always passes "%s".
#[repr(C)]
pub struct OfxMessageSuiteV1 {
    pub message: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, ...) -> OfxStatus,
}

// ---- ofxProgress.h ----

pub const kOfxProgressSuite: &CStr = c"OfxProgressSuite";

/// `OfxProgressSuiteV1` (ofxProgress.h).
#[repr(C)]
pub struct OfxProgressSuiteV1 {
    pub progressStart: unsafe extern "C" fn(*mut c_void, *const c_char) -> OfxStatus,
    pub progressUpdate: unsafe extern "C" fn(*mut c_void, c_double) -> OfxStatus,
    pub progressEnd: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}

/// `OfxProgressSuiteV2` (ofxProgress.h): start also takes a message id.
#[repr(C)]
pub struct OfxProgressSuiteV2 {
    pub progressStart: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> OfxStatus,
    pub progressUpdate: unsafe extern "C" fn(*mut c_void, c_double) -> OfxStatus,
    pub progressEnd: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}

// ---- ofxMemory.h, ofxMultiThread.h ----

pub const kOfxMemorySuite: &CStr = c"OfxMemorySuite";

/// `OfxMemorySuiteV1` (ofxMemory.h).
#[repr(C)]
pub struct OfxMemorySuiteV1 {
    pub memoryAlloc: unsafe extern "C" fn(*mut c_void, usize, *mut *mut c_void) -> OfxStatus,
    pub memoryFree: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}

pub const kOfxMultiThreadSuite: &CStr = c"OfxMultiThreadSuite";

pub type OfxMutexHandle = *mut c_void;
pub type OfxThreadFunctionV1 = unsafe extern "C" fn(threadIndex: c_uint, threadMax: c_uint, customArg: *mut c_void);

/// `OfxMultiThreadSuiteV1` (ofxMultiThread.h).
#[repr(C)]
pub struct OfxMultiThreadSuiteV1 {
    pub multiThread: unsafe extern "C" fn(OfxThreadFunctionV1, c_uint, *mut c_void) -> OfxStatus,
    pub multiThreadNumCPUs: unsafe extern "C" fn(*mut c_uint) -> OfxStatus,
    pub multiThreadIndex: unsafe extern "C" fn(*mut c_uint) -> OfxStatus,
    pub multiThreadIsSpawnedThread: unsafe extern "C" fn() -> c_int,
    pub mutexCreate: unsafe extern "C" fn(*mut OfxMutexHandle, c_int) -> OfxStatus,
    pub mutexDestroy: unsafe extern "C" fn(OfxMutexHandle) -> OfxStatus,
    pub mutexLock: unsafe extern "C" fn(OfxMutexHandle) -> OfxStatus,
    pub mutexUnLock: unsafe extern "C" fn(OfxMutexHandle) -> OfxStatus,
    pub mutexTryLock: unsafe extern "C" fn(OfxMutexHandle) -> OfxStatus,
}
