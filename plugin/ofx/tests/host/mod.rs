//! A small OpenFX host that follows the spec (AcademySoftwareFoundation/openfx, include/*.h),
//! for testing the kino plugin the way editors load it:
//!
//! discovery through `OFX_PLUGIN_PATH`-style folders of `*.ofx.bundle/Contents/Linux-x86-64/*.ofx`,
//! `OfxGetNumberOfPlugins` / `OfxGetPlugin`, `setHost`, Load, Describe, DescribeInContext,
//! CreateInstance, clip preferences, region of definition, frames needed, IsIdentity, Render,
//! InstanceChanged, DestroyInstance, Unload; with the property, parameter, image-effect,
//! memory, multithread, message and progress suites.
//!
//! Like a real host it is strict: property sets hold only the properties the spec lists for
//! their object, typed and sized (a wrong type is kOfxStatErrValue, an unknown name
//! kOfxStatErrUnknown, an index past the dimension kOfxStatErrBadIndex); images are counted and
//! must be released; source frames outside the ranges declared by GetFramesNeeded are
//! recorded as violations.
//!
//! The parameter and message suites are C-variadic, which stable Rust cannot define. On the
//! System V x86-64 and AAPCS64 (Linux) ABIs a variadic call passes its arguments in the same
//! registers as a non-variadic one, so those functions are defined here with the extra
//! arguments spelled out (integer and floating-point registers read separately) and
//! interpreted by the parameter's type, as a C host's `va_arg` would.
#![allow(dead_code, non_upper_case_globals)]

use std::collections::HashMap;
use std::ffi::{c_char, c_double, c_int, c_uint, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kino_ofx::abi::*;

mod clips;
mod instance;
mod load;
mod params;
mod prop_suite;
mod props;
mod suites;

pub use clips::*;
pub use instance::*;
pub use load::*;
pub use params::*;
use prop_suite::*;
pub use props::*;
pub use suites::*;
