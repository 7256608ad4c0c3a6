//! Which colours a video's YUV samples stand for: the matrix, range, primaries and transfer
//! its stream declares. Reading with the wrong matrix shifts a clip's colours (saturated ones
//! clip), and an output without tags leaves players to guess; so clips are read by their own
//! tags and written with them, and what kino makes alone is written as BT.709, tagged.

use ff::color::{Primaries, Range, Space, TransferCharacteristic};
use ff::software::scaling::Context as Scaler;
use ffmpeg_next as ff;

/// A video's colour description, as its stream declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour {
    pub matrix: Space,
    pub range: Range,
    pub primaries: Primaries,
    pub transfer: TransferCharacteristic,
}

impl Default for Colour {
    /// HD video's (ITU-R BT.709, limited range): what kino writes for footage of its own.
    fn default() -> Self {
        Colour { matrix: Space::BT709, range: Range::MPEG, primaries: Primaries::BT709, transfer: TransferCharacteristic::BT709 }
    }
}

impl Colour {
    /// A decoded YUV frame's description; what it leaves unsaid is read as players guess it: the
    /// BT.709 matrix for HD sizes (720 lines or 1280 columns and up), BT.601 below, limited
    /// range (full for the JPEG formats FFmpeg marks `yuvj`).
    pub(super) fn of_frame(frame: &ff::frame::Video) -> Colour {
        // RGB and gray frames have no matrix of their own: what is written from them is BT.709,
        // with the primaries and transfer they say (an HDR clip kino wrote as FFV1 RGB).
        if !is_yuv(frame.format()) {
            let d = Colour::default();
            let primaries = match frame.color_primaries() {
                Primaries::Unspecified | Primaries::Reserved | Primaries::Reserved0 => d.primaries,
                p => p,
            };
            let transfer = match frame.color_transfer_characteristic() {
                TransferCharacteristic::Unspecified | TransferCharacteristic::Reserved | TransferCharacteristic::Reserved0 => d.transfer,
                t => t,
            };
            return Colour { primaries, transfer, ..d };
        }
        let hd = frame.height() >= 720 || frame.width() >= 1280;
        let matrix = match frame.color_space() {
            Space::Unspecified | Space::Reserved if hd => Space::BT709,
            Space::Unspecified | Space::Reserved => Space::SMPTE170M,
            m => m,
        };
        let full = matches!(frame.format(), ff::format::Pixel::YUVJ420P | ff::format::Pixel::YUVJ422P | ff::format::Pixel::YUVJ444P);
        let range = match frame.color_range() {
            Range::Unspecified if full => Range::JPEG,
            Range::Unspecified => Range::MPEG,
            r => r,
        };
        Colour { matrix, range, primaries: frame.color_primaries(), transfer: frame.color_transfer_characteristic() }
    }

    /// swscale's name for the matrix (`SWS_CS_*`); FFmpeg's default (BT.601) for one it lacks.
    fn swscale_matrix(self) -> i32 {
        match self.matrix {
            Space::BT709 => ff::ffi::SWS_CS_ITU709,
            Space::FCC => ff::ffi::SWS_CS_FCC,
            Space::SMPTE240M => ff::ffi::SWS_CS_SMPTE240M,
            Space::BT2020NCL | Space::BT2020CL => ff::ffi::SWS_CS_BT2020,
            _ => ff::ffi::SWS_CS_DEFAULT,
        }
    }

    fn is_full_range(self) -> bool {
        self.range == Range::JPEG
    }
}

/// Whether `format` stores YUV (luma and colour difference) samples, which a matrix turns into RGB.
pub(super) fn is_yuv(format: ff::format::Pixel) -> bool {
    let name = format.descriptor().map_or("", |d| d.name());
    ["yuv", "yuyv", "uyvy", "yvyu", "nv", "p0", "p2", "p4", "y2", "xv", "ayuv", "vuy"].iter().any(|p| name.contains(p))
}

/// Makes `scaler` convert between RGB and YUV by `colour` (its matrix and range on the YUV side:
/// the source when `yuv_is_source`, else the destination). swscale assumes BT.601, limited
/// range, unless told; ffmpeg-next has no safe call for it.
#[allow(unsafe_code)]
pub(super) fn set_scaler_colour(scaler: &mut Scaler, colour: Colour, yuv_is_source: bool) {
    let full = i32::from(colour.is_full_range());
    let (src_range, dst_range) = if yuv_is_source { (full, 1) } else { (1, full) };
    // SAFETY: `as_mut_ptr` is the SwsContext this `Scaler` owns, borrowed mutably for the call;
    // sws_getCoefficients returns a pointer to a static table of 4 ints for any colorspace
    // value (unknown ones give the default), which sws_setColorspaceDetails only reads. The
    // return value (-1 when a side is not YUV) changes nothing then and is not needed.
    unsafe {
        let table = ff::ffi::sws_getCoefficients(colour.swscale_matrix());
        ff::ffi::sws_setColorspaceDetails(scaler.as_mut_ptr(), table, src_range, table, dst_range, 0, 1 << 16, 1 << 16);
    }
}

/// Tags an encoder's stream with `colour` (matrix, range, primaries, transfer). ffmpeg-next
/// sets only the first two safely.
#[allow(unsafe_code)]
pub(super) fn tag_encoder(enc: &mut ff::encoder::video::Video, colour: Colour) {
    enc.set_colorspace(colour.matrix);
    enc.set_color_range(colour.range);
    // SAFETY: `as_mut_ptr` is the AVCodecContext this encoder (not yet opened) owns, borrowed
    // mutably; the two fields are plain enums, written before avcodec_open2 reads them.
    unsafe {
        let ctx = enc.as_mut_ptr();
        (*ctx).color_primaries = colour.primaries.into();
        (*ctx).color_trc = colour.transfer.into();
    }
}
