//! Reads QR images back, so tests check that what Siyu draws scans to the right URL.

/// Decodes the one QR code in a grey image given as a pixel function.
fn decode(width: usize, height: usize, luma: impl Fn(usize, usize) -> u8) -> String {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, luma);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "expected exactly one QR code");
    grids[0].decode().expect("the QR code decodes").1
}

pub fn decode_png(bytes: &[u8]) -> String {
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .expect("a PNG")
        .to_luma8();
    let (width, height) = image.dimensions();
    decode(width as usize, height as usize, |x, y| {
        image.get_pixel(x as u32, y as u32)[0]
    })
}

/// Rasterises the SVG (as a printer or browser would) and decodes it.
pub fn decode_svg(text: &str) -> String {
    let tree = resvg::usvg::Tree::from_str(text, &resvg::usvg::Options::default()).expect("an SVG");
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).expect("a size");
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    let width = size.width() as usize;
    let data = pixmap.data();
    decode(width, size.height() as usize, |x, y| {
        data[(y * width + x) * 4]
    })
}
