//! QR images of a channel's scan URL, for print (SVG) and screens (PNG), with a 4-module
//! quiet zone and a chosen error-correction level (M by default; H for worn print or a logo).

use std::io::Cursor;

use image::Luma;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::error::{Error, ErrorCode};

/// How a QR image is drawn.
#[derive(Debug, Clone, Copy)]
pub struct QrStyle {
    pub level: EcLevel,
    /// Pixels (PNG) or user units (SVG) per module.
    pub module: u32,
}

/// The largest `module` size a request may ask for.
pub const MAX_MODULE: u32 = 40;

impl QrStyle {
    /// From the `ec` (L, M, Q, H) and `module` (1–40) query values.
    pub fn parse(ec: Option<&str>, module: Option<&str>) -> Result<Self, Error> {
        let level = match ec.unwrap_or("M").to_ascii_uppercase().as_str() {
            "L" => EcLevel::L,
            "M" => EcLevel::M,
            "Q" => EcLevel::Q,
            "H" => EcLevel::H,
            _ => {
                return Err(Error::malformed(
                    ErrorCode::InvalidQuery,
                    "ec must be one of L, M, Q, H",
                ))
            }
        };
        let module = match module {
            None => 8,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|m| (1..=MAX_MODULE).contains(m))
                .ok_or_else(|| {
                    Error::malformed(
                        ErrorCode::InvalidQuery,
                        format!("module must be a whole number from 1 to {MAX_MODULE}"),
                    )
                })?,
        };
        Ok(Self { level, module })
    }

    fn code(&self, url: &str) -> Result<QrCode, Error> {
        QrCode::with_error_correction_level(url.as_bytes(), self.level)
            .map_err(|_| Error::invalid("the scan URL is too long for a QR code"))
    }

    pub fn svg(&self, url: &str) -> Result<String, Error> {
        Ok(self
            .code(url)?
            .render::<svg::Color>()
            .quiet_zone(true)
            .module_dimensions(self.module, self.module)
            .build())
    }

    pub fn png(&self, url: &str) -> Result<Vec<u8>, Error> {
        let image = self
            .code(url)?
            .render::<Luma<u8>>()
            .quiet_zone(true)
            .module_dimensions(self.module, self.module)
            .build();
        let mut bytes = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .map_err(|_| Error::internal("could not encode the PNG"))?;
        Ok(bytes)
    }
}
