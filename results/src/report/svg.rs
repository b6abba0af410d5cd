//! The SVG pieces every drawing shares: the time scale, its axis, the shaded fault
//! windows, and escaping. Coordinates are rounded to one decimal to keep the file small.

use std::fmt::Write;

use super::data::Window;

/// Width of the plotting area in pixels: also the number of columns the aggregation uses.
pub const PLOT_WIDTH: u32 = 1000;
/// Left margin for row labels and y ticks.
pub const LEFT: u32 = 70;
/// Right margin.
pub const RIGHT: u32 = 20;

/// Maps run time (nanoseconds) to x pixels.
#[derive(Debug, Clone, Copy)]
pub struct TimeScale {
    pub end_ns: u64,
}

impl TimeScale {
    pub fn x(&self, ns: u64) -> f64 {
        LEFT as f64 + (ns.min(self.end_ns) as f64 / self.end_ns.max(1) as f64) * PLOT_WIDTH as f64
    }

    /// The pixel column (0..PLOT_WIDTH) a time falls in.
    pub fn column(&self, ns: u64) -> usize {
        let c = (ns.min(self.end_ns) as f64 / self.end_ns.max(1) as f64 * PLOT_WIDTH as f64) as usize;
        c.min(PLOT_WIDTH as usize - 1)
    }

    /// The time at the start of a column.
    pub fn column_start_ns(&self, column: usize) -> u64 {
        (column as f64 / PLOT_WIDTH as f64 * self.end_ns as f64) as u64
    }
}

/// The whole SVG width.
pub fn total_width() -> u32 {
    LEFT + PLOT_WIDTH + RIGHT
}

/// Shaded rectangles, one per fault window, from `top` to `top + height`, with the fault
/// named in a tooltip and above the shading.
pub fn fault_windows(out: &mut String, scale: TimeScale, windows: &[Window], top: f64, height: f64) {
    for w in windows {
        let x0 = scale.x(w.start_ns);
        let x1 = scale.x(w.end_ns.unwrap_or(scale.end_ns)).max(x0 + 1.0);
        let class = if w.took_effect { "fault" } else { "fault noeffect" };
        let end = w.end_ns.map(|e| format!("{:.2}s", e as f64 / 1e9)).unwrap_or("end".into());
        let _ = write!(
            out,
            "<rect class=\"{class}\" x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{height:.1}\"><title>{} {:.2}s-{end}{}</title></rect>",
            x1 - x0,
            escape(&w.name),
            w.start_ns as f64 / 1e9,
            if w.took_effect { "" } else { " (no effect)" }
        );
        let _ = write!(
            out,
            "<text class=\"faultlabel\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x0 + 2.0,
            top + 9.0,
            escape(&w.name)
        );
    }
}

/// A time axis along `y` with ticks at round seconds.
pub fn time_axis(out: &mut String, scale: TimeScale, y: f64) {
    let total_s = scale.end_ns as f64 / 1e9;
    let step = nice_step(total_s / 10.0);
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\"/>",
        LEFT + PLOT_WIDTH
    );
    let mut t = 0.0;
    let mut ticks = 0;
    while t <= total_s + 1e-9 && ticks <= 20 {
        let x = scale.x((t * 1e9) as u64);
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}s</text>",
            y + 4.0,
            y + 15.0,
            trim_number(t)
        );
        t += step;
        ticks += 1;
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * power >= raw {
            return m * power;
        }
    }
    10.0 * power
}

/// `2`, `0.5`, `12.5`: no trailing zeros.
pub fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Escape text for HTML and SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_and_text_is_escaped() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(31.0), 50.0);
        assert_eq!(trim_number(2.5), "2.5");
        assert_eq!(trim_number(3.0), "3");
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
