//! Charts for the console, drawn as SVG by `plotters`: the browser sends the numbers it
//! already has (from the JSON API) and shows the picture. Pure: no store, no key.

use plotters::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::Error;

/// Points on the x axis a chart may have (a year of days and then some).
pub const MAX_LABELS: usize = 400;
/// Series one chart may draw.
pub const MAX_SERIES: usize = 8;
const MAX_TEXT_CHARS: usize = 60;
const WIDTH: u32 = 720;
const HEIGHT: u32 = 300;
/// Distinct colours that stay apart for the common colour-vision deficiencies (Okabe–Ito).
const PALETTE: [RGBColor; MAX_SERIES] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// `POST /console/chart.svg` body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartRequest {
    /// `line` (default): one line per series; `bar`: the series side by side per label.
    #[serde(default)]
    pub kind: ChartKind,
    /// The x axis, e.g. dates: 1 to 400 labels of at most 60 characters.
    pub labels: Vec<String>,
    /// 1 to 8 series, each with one value per label.
    pub series: Vec<ChartSeries>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    #[default]
    Line,
    Bar,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartSeries {
    /// Shown in the legend; at most 60 characters.
    pub name: String,
    pub values: Vec<f64>,
}

impl ChartRequest {
    fn check(&self) -> Result<(), Error> {
        if self.labels.is_empty() || self.labels.len() > MAX_LABELS {
            return Err(Error::invalid(format!(
                "labels: 1 to {MAX_LABELS} are drawn"
            )));
        }
        if self.series.is_empty() || self.series.len() > MAX_SERIES {
            return Err(Error::invalid(format!(
                "series: 1 to {MAX_SERIES} are drawn"
            )));
        }
        // Control characters cannot be written in an SVG (XML) document.
        let unfit = |text: &String| {
            text.chars().count() > MAX_TEXT_CHARS || text.chars().any(char::is_control)
        };
        if self.labels.iter().any(unfit) || self.series.iter().any(|s| unfit(&s.name)) {
            return Err(Error::invalid(format!(
                "labels and series names are at most {MAX_TEXT_CHARS} characters, none a control character"
            )));
        }
        for series in &self.series {
            if series.values.len() != self.labels.len() {
                return Err(Error::invalid(format!(
                    "series {:?} has {} values for {} labels",
                    series.name,
                    series.values.len(),
                    self.labels.len()
                )));
            }
            if series
                .values
                .iter()
                .any(|v| !v.is_finite() || v.abs() > 1e15)
            {
                return Err(Error::invalid(format!(
                    "series {:?}: values are finite numbers within ±10^15",
                    series.name
                )));
            }
        }
        Ok(())
    }

    /// The y range: from 0 (or the lowest value) to a little above the highest.
    fn y_range(&self) -> (f64, f64) {
        let values = self.series.iter().flat_map(|s| s.values.iter().copied());
        let (low, high) = values.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        // At least 5 units tall, so small counts get whole-number ticks rather than tenths.
        let high = high.max(low + 5.0);
        (low, high + (high - low) * 0.08)
    }
}

/// The chart as an SVG document.
pub fn render(chart: &ChartRequest) -> Result<String, Error> {
    chart.check()?;
    let mut svg = String::new();
    draw(chart, &mut svg).map_err(|e| Error::internal(format!("chart: {e}")))?;
    Ok(svg)
}

fn draw(chart: &ChartRequest, svg: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let count = chart.labels.len();
    let (low, high) = chart.y_range();
    let mut plot = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5..(count as f64 - 0.5), low..high)?;
    let label_at = |x: &f64| {
        let index = x.round();
        let near = (x - index).abs() < 0.01 && index >= 0.0;
        near.then(|| chart.labels.get(index as usize).cloned())
            .flatten()
            .unwrap_or_default()
    };
    plot.configure_mesh()
        .disable_x_mesh()
        .x_labels(count.min(8))
        .x_label_formatter(&label_at)
        .y_label_formatter(&|v| compact(*v))
        .y_labels(6)
        .label_style(("sans-serif", 15))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(230, 230, 230))
        .draw()?;
    let share = 0.8 / chart.series.len() as f64;
    for (index, series) in chart.series.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let drawn = match chart.kind {
            ChartKind::Line => plot.draw_series(LineSeries::new(
                series
                    .values
                    .iter()
                    .enumerate()
                    .map(|(x, v)| (x as f64, *v)),
                color.stroke_width(2),
            ))?,
            ChartKind::Bar => {
                plot.draw_series(series.values.iter().enumerate().map(|(x, v)| {
                    let left = x as f64 - 0.4 + share * index as f64;
                    Rectangle::new([(left, 0.0), (left + share, *v)], color.filled())
                }))?
            }
        };
        drawn
            .label(series.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()?;
    root.present()?;
    Ok(())
}

/// An axis number people read at a glance: 1200 → "1.2k", 3500000 → "3.5M".
fn compact(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, unit) = match magnitude {
        m if m >= 1e9 => (value / 1e9, "G"),
        m if m >= 1e6 => (value / 1e6, "M"),
        m if m >= 1e4 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    let text = format!("{scaled:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> ChartRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn draws_each_series_with_its_name_escaped() {
        for kind in ["line", "bar"] {
            let svg = render(&request(serde_json::json!({
                "kind": kind,
                "labels": ["2026-11-01", "2026-11-02", "2026-11-03"],
                "series": [
                    {"name": "扫码 scans", "values": [3, 5, 2]},
                    {"name": "<script>x</script>", "values": [1, 0, 4]}
                ]
            })))
            .unwrap();
            assert!(svg.starts_with("<svg"), "{kind}");
            assert!(
                svg.contains("扫码 scans") && svg.contains("2026-11-02"),
                "{kind}"
            );
            assert!(
                !svg.contains("<script>") && svg.contains("&lt;script&gt;"),
                "{kind}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_draw() {
        let refused = |json: serde_json::Value| render(&request(json)).unwrap_err().message();
        assert!(refused(
            serde_json::json!({"labels": [], "series": [{"name": "a", "values": []}]})
        )
        .contains("labels"));
        assert!(refused(serde_json::json!({"labels": ["a"], "series": []})).contains("series"));
        assert!(refused(
            serde_json::json!({"labels": ["a\u{7}"], "series": [{"name": "s", "values": [1]}]})
        )
        .contains("control character"));
        assert!(refused(
            serde_json::json!({"labels": ["a", "b"], "series": [{"name": "s", "values": [1]}]})
        )
        .contains("1 values for 2 labels"));
        assert!(refused(
            serde_json::json!({"labels": ["a"], "series": [{"name": "s", "values": [1e300]}]})
        )
        .contains("finite"));
    }

    #[test]
    fn axis_numbers_are_compact() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(12_000.0), "12k");
        assert_eq!(compact(3_500_000.0), "3.5M");
        assert_eq!(compact(-25_000.0), "-25k");
    }
}
