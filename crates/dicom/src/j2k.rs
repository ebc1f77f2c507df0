//! JPEG 2000 lossless encoding of one frame of native pixel data, for
//! transcoding to JPEG 2000 Image Compression (Lossless Only),
//! 1.2.840.10008.1.2.4.90.
//!
//! dicom-rs 0.10 decodes JPEG 2000 (with the pure-Rust `openjp2` crate, a
//! port of OpenJPEG) but has no encoder. This module drives the encoder of
//! that same crate through its OpenJPEG-style API, which works on raw
//! pointers: every `unsafe` block of Hale's DICOM crate is here, behind
//! [`encode_lossless`], which is safe.
//!
//! What is written is what DICOM encapsulates (PS3.5 §A.4.4): a raw J2K
//! codestream (no JP2 boxes), reversible 5/3 wavelet, one quality layer
//! without rate limit (lossless), and no multi-component transform, so the
//! components are the samples as they are and the Photometric
//! Interpretation of the instance stays true (RGB stays RGB; PS3.5 §8.2.4
//! allows a JPEG 2000 codestream without the reversible colour transform).

use std::ffi::{CStr, c_char, c_void};

use openjp2::image::{opj_image, opj_image_cmptparm_t};
use openjp2::openjpeg::{
    OPJ_CLRSPC_GRAY, OPJ_CLRSPC_SRGB, OPJ_CODEC_J2K, opj_codec_t, opj_cparameters_t,
    opj_create_compress, opj_destroy_codec, opj_encode, opj_end_compress, opj_set_error_handler,
    opj_setup_encoder, opj_start_compress, opj_stream_create, opj_stream_destroy,
    opj_stream_set_user_data, opj_stream_set_write_function, opj_stream_t,
};

/// How the samples of one frame of native pixel data are laid out (the
/// Image Pixel module's attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Samples per Pixel: 1 or 3.
    pub samples_per_pixel: u16,
    /// Bits Allocated: 8 or 16 (little-endian samples).
    pub bits_allocated: u16,
    /// Bits Stored: 1 to Bits Allocated; the codestream's precision.
    pub bits_stored: u16,
    /// Pixel Representation 1: two's complement samples.
    pub signed: bool,
    /// Planar Configuration 1: all samples of the first component, then
    /// the second's, ... (else interleaved, pixel by pixel).
    pub planar: bool,
}

impl FrameLayout {
    /// The byte length of one frame, or why this layout cannot be encoded.
    pub fn frame_len(&self) -> Result<usize, String> {
        if self.width == 0 || self.height == 0 {
            return Err("the image has no rows or no columns".into());
        }
        if !matches!(self.samples_per_pixel, 1 | 3) {
            return Err(format!(
                "{} samples per pixel cannot be encoded (only 1 or 3)",
                self.samples_per_pixel
            ));
        }
        if !matches!(self.bits_allocated, 8 | 16) {
            return Err(format!(
                "{} bits allocated cannot be encoded (only 8 or 16)",
                self.bits_allocated
            ));
        }
        if self.bits_stored == 0 || self.bits_stored > self.bits_allocated {
            return Err(format!(
                "{} bits stored do not fit in {} bits allocated",
                self.bits_stored, self.bits_allocated
            ));
        }
        (self.width as usize)
            .checked_mul(self.height as usize)
            .and_then(|n| n.checked_mul(usize::from(self.samples_per_pixel)))
            .and_then(|n| n.checked_mul(usize::from(self.bits_allocated / 8)))
            .ok_or_else(|| "the frame is too large".to_owned())
    }

    /// The number of wavelet resolutions: OpenJPEG's default of 6 (5
    /// decompositions), fewer for images too small for that (each
    /// decomposition halves the smaller side, which must stay ≥ 1).
    fn resolutions(&self) -> i32 {
        let smaller = self.width.min(self.height);
        // floor(log2(smaller)) + 1 levels fit.
        (smaller.ilog2() as i32 + 1).min(6)
    }
}

/// The J2K codestream (starting with the SOC and SIZ markers, `FF 4F FF 51`)
/// of one frame of native pixel data laid out as `layout` says, encoded
/// losslessly. Sample bits above Bits Stored are not part of the pixel value
/// (PS3.5 §8.1.1) and are not kept: unsigned samples are masked, signed ones
/// sign-extended from Bits Stored, which is how a decoder gives them back.
pub fn encode_lossless(frame: &[u8], layout: &FrameLayout) -> Result<Vec<u8>, String> {
    let len = layout.frame_len()?;
    if frame.len() != len {
        return Err(format!(
            "the frame has {} bytes where its attributes make {len}",
            frame.len()
        ));
    }
    let mut image = image_of(frame, layout)?;
    let mut params = lossless_parameters(layout.resolutions())?;
    encode(&mut image, &mut params)
}

/// OpenJPEG's default coding parameters (what
/// `opj_set_default_encoder_parameters` sets), made lossless.
// `opj_cparameters_t` implements `Drop`, so struct update syntax, which
// the lint asks for, cannot be used.
#[allow(clippy::field_reassign_with_default)]
fn lossless_parameters(resolutions: i32) -> Result<opj_cparameters_t, String> {
    let mut params = opj_cparameters_t::default();
    // Without a comment of ours the encoder makes its own with Rust's
    // allocator and releases it with C's `free`: with any other global
    // allocator than the system's (Hale's binary runs mimalloc) that frees
    // foreign memory and corrupts the heap. Both the encoder's copy of this
    // string and, when `params` drops, this one are released with `free`,
    // so it is made by C's allocator.
    // SAFETY: `strdup` reads a NUL-terminated string and returns a copy
    // from `malloc`, or null, which is refused here.
    params.cp_comment = unsafe { libc::strdup(ENCODER_COMMENT.as_ptr()) };
    if params.cp_comment.is_null() {
        return Err("the JPEG 2000 encoder could not allocate its comment".into());
    }
    params.tcp_numlayers = 1;
    params.tcp_rates[0] = 0.0; // no rate limit: every bit plane, lossless
    params.cp_disto_alloc = 1;
    params.irreversible = 0; // the reversible 5/3 wavelet
    params.tcp_mct = 0; // no colour transform: components are the samples
    params.numresolution = resolutions;
    Ok(params)
}

/// The codestream's comment (its COM marker).
const ENCODER_COMMENT: &CStr = c"Hale";

/// The frame's samples as an OpenJPEG image: one component per sample,
/// each an `i32` per pixel.
fn image_of(frame: &[u8], layout: &FrameLayout) -> Result<Box<opj_image>, String> {
    let (w, h) = (layout.width, layout.height);
    let components = usize::from(layout.samples_per_pixel);
    let params = opj_image_cmptparm_t {
        dx: 1,
        dy: 1,
        w,
        h,
        x0: 0,
        y0: 0,
        prec: u32::from(layout.bits_stored),
        bpp: u32::from(layout.bits_stored),
        sgnd: u32::from(layout.signed),
    };
    let colour = if components == 3 {
        OPJ_CLRSPC_SRGB
    } else {
        OPJ_CLRSPC_GRAY
    };
    let mut image = opj_image::create(&vec![params; components], colour)
        .ok_or("the encoder could not allocate the image")?;
    (image.x0, image.y0, image.x1, image.y1) = (0, 0, w, h);

    let bytes = usize::from(layout.bits_allocated / 8);
    let pixels = w as usize * h as usize;
    let unused = 32 - u32::from(layout.bits_stored);
    let value = |i: usize| -> i32 {
        let raw = if bytes == 1 {
            u32::from(frame[i])
        } else {
            u32::from(u16::from_le_bytes([frame[2 * i], frame[2 * i + 1]]))
        };
        // Keep the Bits Stored low bits: shifted to the top and back, with
        // the sign carried down for signed samples.
        if layout.signed {
            ((raw << unused) as i32) >> unused
        } else {
            ((raw << unused) >> unused) as i32
        }
    };
    let comps = image
        .comps_mut()
        .ok_or("the encoder image has no components")?;
    for (c, comp) in comps.iter_mut().enumerate() {
        let data = comp
            .data_mut()
            .ok_or("the encoder image has no sample buffer")?;
        if data.len() != pixels {
            return Err("the encoder image has an unexpected size".into());
        }
        for (p, out) in data.iter_mut().enumerate() {
            let sample = if layout.planar {
                c * pixels + p
            } else {
                p * components + c
            };
            *out = value(sample);
        }
    }
    Ok(image)
}

/// An OpenJPEG encoder, destroyed when dropped.
struct Encoder(*mut opj_codec_t);

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `opj_create_compress`, is not null
        // (checked at creation) and is destroyed only here, once.
        unsafe { opj_destroy_codec(self.0) }
    }
}

/// An OpenJPEG output stream, destroyed when dropped.
struct OutputStream(*mut opj_stream_t);

impl Drop for OutputStream {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `opj_stream_create`, is not null
        // (checked at creation) and is destroyed only here, once.
        // Destroying flushes what the stream still buffers through
        // `write_to_vec`, whose user data outlives the stream (see `encode`).
        unsafe { opj_stream_destroy(self.0) }
    }
}

/// Size of the stream's write buffer.
const STREAM_BUFFER: usize = 64 * 1024;

/// Runs the encoder over `image` with `params`; the codestream written.
fn encode(image: &mut opj_image, params: &mut opj_cparameters_t) -> Result<Vec<u8>, String> {
    // Declared before the encoder and the stream, so dropped after them:
    // both keep raw pointers to these until they are destroyed.
    let mut out: Vec<u8> = Vec::new();
    let mut last_error = String::new();
    {
        // SAFETY: `opj_create_compress` only allocates; a null result is
        // handled below.
        let codec = unsafe { opj_create_compress(OPJ_CODEC_J2K) };
        if codec.is_null() {
            return Err("the JPEG 2000 encoder could not be created".into());
        }
        let encoder = Encoder(codec);
        // SAFETY: `encoder.0` is a live codec. `last_error` outlives it
        // (declared earlier, dropped later), and `record_error` writes
        // only through the pointer given here, while the codec runs.
        unsafe {
            opj_set_error_handler(
                encoder.0,
                Some(record_error),
                (&raw mut last_error).cast::<c_void>(),
            );
        }
        // SAFETY: `opj_stream_create` only allocates (an output stream,
        // `is_input` 0); a null result is handled below.
        let stream = unsafe { opj_stream_create(STREAM_BUFFER, 0) };
        if stream.is_null() {
            return Err("the JPEG 2000 output stream could not be created".into());
        }
        let stream = OutputStream(stream);
        // SAFETY: `stream.0` is a live output stream. The user data is `out`,
        // which outlives the stream (declared earlier, dropped later), with
        // no free function: the stream does not own it. `write_to_vec`
        // takes it back as the `Vec<u8>` it is.
        unsafe {
            opj_stream_set_write_function(stream.0, Some(write_to_vec));
            opj_stream_set_user_data(stream.0, (&raw mut out).cast::<c_void>(), None);
        }
        let image: *mut opj_image = image;
        let params: *mut opj_cparameters_t = params;
        // SAFETY: the codec and the stream are live (their guards drop at
        // the end of this block); `image` and `params` are exclusive
        // borrows for the whole block, the image has as many allocated
        // components as it says. OpenJPEG reads them and does not keep the
        // pointers past `opj_end_compress` or the codec's destruction.
        let done = unsafe {
            opj_setup_encoder(encoder.0, params, image) != 0
                && opj_start_compress(encoder.0, image, stream.0) != 0
                && opj_encode(encoder.0, stream.0) != 0
                && opj_end_compress(encoder.0, stream.0) != 0
        };
        // The stream first (its last buffered bytes go to `out`), then the
        // encoder.
        drop(stream);
        drop(encoder);
        if !done {
            let reason = last_error.trim();
            return Err(if reason.is_empty() {
                "the JPEG 2000 encoder failed".into()
            } else {
                format!("the JPEG 2000 encoder failed: {reason}")
            });
        }
    }
    if !out.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        return Err("the JPEG 2000 encoder wrote no codestream".into());
    }
    Ok(out)
}

/// The stream's write function: appends what OpenJPEG writes to the
/// `Vec<u8>` given as user data. Returns the number of bytes taken.
unsafe extern "C" fn write_to_vec(buffer: *mut c_void, len: usize, user: *mut c_void) -> usize {
    if len == 0 || buffer.is_null() || user.is_null() {
        return 0;
    }
    // SAFETY: `user` is the `Vec<u8>` `encode` set as the stream's user
    // data, alive and not otherwise borrowed while the stream exists;
    // OpenJPEG passes `len` readable bytes at `buffer` (its write buffer,
    // which does not overlap the vector).
    let (out, bytes) = unsafe {
        (
            &mut *user.cast::<Vec<u8>>(),
            std::slice::from_raw_parts(buffer.cast::<u8>().cast_const(), len),
        )
    };
    out.extend_from_slice(bytes);
    len
}

/// The codec's error handler: keeps the last message in the `String` given
/// as user data, for the error `encode` returns.
unsafe extern "C" fn record_error(message: *const c_char, user: *mut c_void) {
    if message.is_null() || user.is_null() {
        return;
    }
    // SAFETY: `user` is the `String` `encode` registered, alive and not
    // otherwise borrowed while the codec runs; OpenJPEG passes a
    // NUL-terminated message that lives for the call.
    let (last, message) = unsafe { (&mut *user.cast::<String>(), CStr::from_ptr(message)) };
    *last = message.to_string_lossy().into_owned();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(width: u32, height: u32, samples: u16, bits: u16) -> FrameLayout {
        FrameLayout {
            width,
            height,
            samples_per_pixel: samples,
            bits_allocated: bits,
            bits_stored: bits,
            signed: false,
            planar: false,
        }
    }

    #[test]
    fn writes_a_j2k_codestream() {
        let l = layout(5, 3, 1, 8);
        let frame: Vec<u8> = (0..15).map(|i| i * 17).collect();
        let cs = encode_lossless(&frame, &l).unwrap();
        assert!(cs.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]), "{cs:02X?}");
        assert!(cs.ends_with(&[0xFF, 0xD9]), "ends with EOC");
        // A one-pixel image: no wavelet decomposition at all.
        let cs = encode_lossless(&[7, 0], &layout(1, 1, 1, 16)).unwrap();
        assert!(cs.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]));
    }

    #[test]
    fn refuses_what_it_cannot_encode() {
        let cases = [
            (layout(2, 2, 1, 32), 16),
            (layout(2, 2, 2, 8), 8),
            (layout(0, 2, 1, 8), 0),
            (
                FrameLayout {
                    bits_stored: 17,
                    ..layout(2, 2, 1, 16)
                },
                8,
            ),
            // Fewer bytes than the attributes make.
            (layout(2, 2, 3, 8), 11),
        ];
        for (l, len) in cases {
            let e = encode_lossless(&vec![0; len], &l).unwrap_err();
            assert!(!e.is_empty(), "{l:?}");
        }
    }

    #[test]
    fn resolutions_fit_the_image() {
        assert_eq!(layout(1, 1, 1, 8).resolutions(), 1);
        assert_eq!(layout(2, 9, 1, 8).resolutions(), 2);
        assert_eq!(layout(31, 40, 1, 8).resolutions(), 5);
        assert_eq!(layout(32, 32, 1, 8).resolutions(), 6);
        assert_eq!(layout(512, 512, 1, 8).resolutions(), 6);
    }

    /// How long one 512 × 512 16-bit frame takes to encode (12 bits of
    /// smooth, CT-like content with noise). Run with
    /// `cargo test --release -p hale-dicom --lib -- --ignored --nocapture`.
    #[test]
    #[ignore = "a timing, not a check"]
    fn timing_of_a_512_by_512_16_bit_frame() {
        let l = FrameLayout {
            bits_stored: 12,
            ..layout(512, 512, 1, 16)
        };
        let mut seed = 0x2545_f491_u32;
        let frame: Vec<u8> = (0..512 * 512)
            .flat_map(|i| {
                let (x, y) = (i % 512, i / 512);
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let smooth = 2048.0 + 1200.0 * ((x as f64 / 40.0).sin() * (y as f64 / 55.0).cos());
                ((smooth as u32 + seed % 64) as u16 & 0x0FFF).to_le_bytes()
            })
            .collect();
        let runs = 5;
        let start = std::time::Instant::now();
        let mut size = 0;
        for _ in 0..runs {
            size = encode_lossless(&frame, &l).unwrap().len();
        }
        let each = start.elapsed() / runs;
        println!(
            "512x512 16-bit (12 stored): {each:?} per frame, {size} bytes from {} ({:.2}:1)",
            frame.len(),
            frame.len() as f64 / size as f64
        );
    }
}
