//! The report's charts, drawn server-side as SVG with plotters: nothing to load, readable in
//! print. Colours are the Okabe–Ito palette (told apart with any colour vision), and every
//! series also differs by its marker or position, never by colour alone.

use plotters::prelude::*;

/// Okabe–Ito blue, orange, vermillion, bluish green.
const BLUE: RGBColor = RGBColor(0, 114, 178);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
const GREEN: RGBColor = RGBColor(0, 158, 115);
const GREY: RGBColor = RGBColor(120, 120, 120);

const WIDTH: u32 = 640;
const HEIGHT: u32 = 240;

/// A named series of values, one per label (`None`: no value there).
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<Option<f64>>,
}

type Result = std::result::Result<String, String>;

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing a chart: {e}")
}

fn max_of(series: &[Series<'_>]) -> f64 {
    series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |m, v| m.max(*v))
}

/// The label at a whole x, thinned to at most about eight along an axis so they stay readable.
fn label_at(labels: &[String], x: f64) -> String {
    let step = labels.len().div_ceil(8).max(1);
    let i = x.round();
    if (x - i).abs() > 0.01 || i < 0.0 || !(i as usize).is_multiple_of(step) {
        return String::new();
    }
    labels.get(i as usize).cloned().unwrap_or_default()
}

/// Lines over labelled points, each with its own colour and marker.
pub fn lines(labels: &[String], series: &[Series<'_>], y_desc: &str, y_from_zero: bool) -> Result {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let values: Vec<f64> = series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .collect();
        let (lo, hi) = if y_from_zero {
            (0.0, max_of(series).max(1.0) * 1.1)
        } else {
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max).max(0.0);
            (lo - 10.0, hi + 10.0)
        };
        let n = labels.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
            .map_err(err)?;
        let label_of = |x: &f64| label_at(labels, *x);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label_of)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        let styles = [BLUE, ORANGE, VERMILLION, GREEN];
        for (k, s) in series.iter().enumerate() {
            let colour = styles[k % styles.len()];
            let points: Vec<(f64, f64)> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
                .collect();
            // The line with its legend entry, then its points, in the series' own marker.
            macro_rules! with_marker {
                ($shape:ident, $size:expr, $style:expr) => {{
                    chart
                        .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                        .map_err(err)?
                        .label(s.name)
                        .legend(move |(x, y)| {
                            EmptyElement::at((x, y))
                                + PathElement::new(vec![(0, 0), (16, 0)], colour.stroke_width(2))
                                + $shape::new((8, 0), $size, $style)
                        });
                    chart
                        .draw_series(points.iter().map(|p| $shape::new(*p, $size, $style)))
                        .map_err(err)?;
                }};
            }
            match k % 3 {
                0 => with_marker!(Circle, 3, colour.filled()),
                1 => with_marker!(TriangleMarker, 4, colour.filled()),
                _ => with_marker!(Cross, 4, colour.stroke_width(2)),
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Grouped bars: for each label, one bar per series side by side (in series order).
pub fn bars(labels: &[String], series: &[Series<'_>], y_desc: &str) -> Result {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = labels.len().max(1);
        let hi = max_of(series).max(1.0) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..hi)
            .map_err(err)?;
        let label_of = |x: &f64| label_at(labels, *x);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label_of)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        let styles = [BLUE, ORANGE, VERMILLION, GREEN];
        let k = series.len().max(1) as f64;
        let width = 0.8 / k;
        for (j, s) in series.iter().enumerate() {
            let colour = styles[j % styles.len()];
            let left = -0.4 + j as f64 * width;
            chart
                .draw_series(s.values.iter().enumerate().filter_map(|(i, v)| {
                    v.map(|v| {
                        let x = i as f64 + left;
                        Rectangle::new([(x, 0.0), (x + width * 0.92, v)], colour.filled())
                    })
                }))
                .map_err(err)?
                .label(s.name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Two rates with their 95 % intervals (contacted, held out), as points with error bars on a
/// 0–100 % scale.
pub fn intervals(groups: &[(&str, Option<super::Interval>)]) -> Result {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 130)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = groups.len();
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(110)
            .build_cartesian_2d(0f64..100f64, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        let names: Vec<String> = groups.iter().map(|(name, _)| name.to_string()).collect();
        let name_of = |y: &f64| {
            let i = y.round();
            if (y - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            names.get(i as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&name_of)
            .x_label_formatter(&|x| format!("{x:.0}%"))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (i, (_, interval)) in groups.iter().enumerate() {
            let Some(iv) = interval else { continue };
            let colour = [BLUE, ORANGE][i % 2];
            let y = i as f64;
            chart
                .draw_series([ErrorBar::new_horizontal(
                    y,
                    100.0 * iv.low,
                    100.0 * iv.estimate,
                    100.0 * iv.high,
                    colour.stroke_width(2),
                    10,
                )])
                .map_err(err)?;
            chart
                .draw_series([Circle::new((100.0 * iv.estimate, y), 4, colour.filled())])
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels_and_no_remote_resource() {
        let labels: Vec<String> = ["2026-01", "2026-02", "2026-03"].map(String::from).to_vec();
        let svg = lines(
            &labels,
            &[
                Series {
                    name: "healthy",
                    values: vec![Some(10.0), Some(12.0), None],
                },
                Series {
                    name: "at risk",
                    values: vec![Some(3.0), Some(2.0), Some(4.0)],
                },
            ],
            "customers",
            true,
        )
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("healthy") && svg.contains("at risk"));
        assert!(svg.contains("2026-02"));
        assert!(!svg.contains("http://") || svg.matches("http://").all(|_| svg.contains("xmlns")));
        let svg = bars(
            &labels,
            &[Series {
                name: "lapsed",
                values: vec![Some(1.0), None, Some(3.0)],
            }],
            "customers",
        )
        .unwrap();
        assert!(svg.contains("<rect") && svg.contains("lapsed"));
        let iv = super::super::wilson(3, 10);
        let svg = intervals(&[("contacted", iv), ("held out", None)]).unwrap();
        assert!(svg.contains("contacted") && svg.contains("held out"));
    }
}
