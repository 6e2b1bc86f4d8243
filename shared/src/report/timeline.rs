//! The snapshot timeline of a report: which snapshots a scope has in a window, how many
//! changes each brought (the diff from the snapshot before it), and the chart of both.
//!
//! Each point's change count is a real diff of the two manifests, which reads only the
//! records whose blobs differ (see [`Archive::load_changed_pair`]): a month of nightly
//! snapshots of a quiet repository costs a few dozen blob reads per night, not a full load.
//! The chart is drawn with `plotters`' SVG backend into a string: bars for the changes, a
//! line for the records held, the compared sides marked.

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use serde::Serialize;

use super::ReportError;
use crate::catalog::SnapshotStatus;
use crate::compare::drop_reports;
use crate::diff::{self, DiffOptions};
use crate::error::Result;
use crate::scope::Scope;
use crate::snapshot::Archive;

/// The most snapshots a timeline charts (the newest ones in its window): enough for
/// three months of nightlies, and a bound on the diffs a report computes.
pub const MAX_POINTS: usize = 120;

/// One snapshot on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub id: String,
    pub name: Option<String>,
    pub trigger: String,
    pub created_at: DateTime<Utc>,
    /// Records held (issues, comments and definitions).
    pub items: u64,
    /// Uncompressed size of its records.
    pub bytes: u64,
    /// Changes since the snapshot before it; `None` for a scope's first snapshot.
    pub changes: Option<usize>,
    /// `from` or `to` when this snapshot is a side of the report's diff.
    pub side: Option<&'static str>,
}

/// A scope's snapshots in a window, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub points: Vec<TimelinePoint>,
    /// Completed snapshots in the window left out beyond [`MAX_POINTS`].
    pub omitted: usize,
}

/// The completed snapshots of `scope` taken at or after `since` (all of them with `None`),
/// at most [`MAX_POINTS`] of the newest, each with the changes it brought.
pub async fn collect(
    archive: &Archive,
    scope: &Scope,
    since: Option<DateTime<Utc>>,
    sides: [Option<&str>; 2],
) -> Result<Timeline> {
    let mut entries: Vec<_> = archive
        .catalog
        .list(Some(scope))
        .await?
        .into_iter()
        .filter(|e| e.status == SnapshotStatus::Completed)
        .collect();
    // Newest first from the catalog; the timeline reads left to right.
    entries.reverse();
    let first = entries
        .iter()
        .position(|e| since.is_none_or(|s| e.created_at >= s))
        .unwrap_or(entries.len());
    let in_window = entries.len() - first;
    let start = first + in_window.saturating_sub(MAX_POINTS);
    let schema = diff::Schema::of(scope.tracker());
    let options = DiffOptions::default();
    let mut points = Vec::with_capacity(entries.len() - start);
    let mut previous = match start.checked_sub(1).and_then(|i| entries.get(i)) {
        Some(before) => Some(archive.load_manifest(before).await?),
        None => None,
    };
    for entry in &entries[start..] {
        let manifest = archive.load_manifest(entry).await?;
        let changes = match &previous {
            Some(before) => {
                let (mut a, mut b) = archive.load_changed_pair(before, &manifest).await?;
                drop_reports(&mut a);
                drop_reports(&mut b);
                Some(diff::diff(schema, &a, &b, &options).summary.total)
            }
            None => None,
        };
        let id = entry.id.to_string();
        let side = if sides[0] == Some(id.as_str()) {
            Some("from")
        } else if sides[1] == Some(id.as_str()) {
            Some("to")
        } else {
            None
        };
        let c = &entry.counts;
        points.push(TimelinePoint {
            id,
            name: entry.name.clone(),
            trigger: entry.trigger.to_string(),
            created_at: entry.created_at,
            items: c.issues + c.comments + c.labels + c.milestones + c.components + c.versions,
            bytes: entry.bytes.logical,
            changes,
            side,
        });
        previous = Some(manifest);
    }
    Ok(Timeline {
        points,
        omitted: start - first,
    })
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 260;
/// Bars: a blue that keeps 3:1 against both the light and the dark page background.
const BAR: RGBColor = RGBColor(0x3b, 0x82, 0xc4);
const LINE: RGBColor = RGBColor(0xc2, 0x5e, 0x00);
const SIDE: RGBColor = RGBColor(0x8a, 0x3f, 0xd1);
const INK: RGBColor = RGBColor(0x6b, 0x72, 0x80);
/// The plot's width in pixels: the chart's, less its margins and axis label areas.
const PLOT_WIDTH: f64 = (WIDTH - 2 * 12 - 52 - 60) as f64;
/// The most room a point asks for on the x axis, in pixels: a side's marker (5 px radius)
/// and a bar, with a pixel to spare.
const POINT_ROOM: f64 = 12.0;

/// Where each point is drawn, in plot pixels from the left: at its time, unless that would
/// put its bar or marker on a neighbour's (snapshots seconds apart), then just clear of it:
/// each point keeps `gap` pixels from the next, a cluster staying as near its times as the
/// plot's ends allow. With more points than fit at `gap`, the caller shrinks `gap`.
fn spread(at: &[f64], gap: f64) -> Vec<f64> {
    let mut p: Vec<f64> = Vec::with_capacity(at.len());
    for &x in at {
        let x = match p.last() {
            Some(&prev) => x.max(prev + gap),
            None => x.max(0.0),
        };
        p.push(x);
    }
    // Pulled back from the right end, and each cluster centred on the times it spans.
    let mut limit = PLOT_WIDTH;
    for i in (0..p.len()).rev() {
        p[i] = p[i].min(limit);
        limit = p[i] - gap;
    }
    let mut i = 0;
    while i < p.len() {
        let mut j = i;
        while j + 1 < p.len() && p[j + 1] - p[j] <= gap + 1e-9 {
            j += 1;
        }
        if j > i {
            let shift = (at[i] + at[j]) / 2.0 - (p[i] + p[j]) / 2.0;
            let low = if i == 0 { 0.0 } else { p[i - 1] + gap } - p[i];
            let high = if j + 1 == p.len() {
                PLOT_WIDTH
            } else {
                p[j + 1] - gap
            } - p[j];
            let shift = shift.clamp(low.min(0.0), high.max(0.0));
            for x in &mut p[i..=j] {
                *x += shift;
            }
        }
        i = j + 1;
    }
    p
}

/// The chart as an SVG element (no XML prologue), sized by the page's CSS.
pub fn svg(timeline: &Timeline) -> Result<String, ReportError> {
    let points = &timeline.points;
    if points.is_empty() {
        return Ok(String::new());
    }
    let chart_err = |e: &dyn std::fmt::Display| ReportError::Chart(e.to_string());
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let (t0, t1) = (points[0].created_at, points[points.len() - 1].created_at);
        // Some room on both ends so the first and last bars are whole; one hour at least,
        // so a single snapshot still has an axis.
        let pad = ((t1 - t0) / 20).max(chrono::Duration::hours(1));
        let (x0, x1) = (t0 - pad, t1 + pad);
        // Snapshots close in time are drawn side by side rather than on top of each other
        // (the tooltips and the table keep their real times).
        let span_ms = (x1 - x0).num_milliseconds().max(1) as f64;
        let gap = POINT_ROOM.min(PLOT_WIDTH / points.len() as f64);
        let at: Vec<f64> = points
            .iter()
            .map(|p| (p.created_at - x0).num_milliseconds() as f64 / span_ms * PLOT_WIDTH)
            .collect();
        let placed = spread(&at, gap);
        let nearest = placed
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(PLOT_WIDTH, f64::min);
        let shown: Vec<DateTime<Utc>> = placed
            .iter()
            .map(|px| x0 + chrono::Duration::milliseconds((px / PLOT_WIDTH * span_ms) as i64))
            .collect();
        // Markers no wider than the room each point has.
        let radius = |side: bool| -> i32 {
            let r: f64 = if side { 5.0 } else { 3.0 };
            r.min(((gap - 1.0) / 2.0).floor()).max(1.0) as i32
        };
        let max_changes = points
            .iter()
            .filter_map(|p| p.changes)
            .max()
            .unwrap_or(0)
            .max(1);
        let max_items = points.iter().map(|p| p.items).max().unwrap_or(0).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(52)
            .right_y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0usize..max_changes + max_changes / 10 + 1)
            .map_err(|e| chart_err(&e))?
            .set_secondary_coord(x0..x1, 0u64..max_items + max_items / 10 + 1);
        let span = t1 - t0;
        let format = if span > chrono::Duration::days(2) {
            "%m-%d"
        } else {
            "%m-%d %H:%M"
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(INK.mix(0.15))
            .bold_line_style(INK.mix(0.3))
            .axis_style(INK)
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|t: &DateTime<Utc>| t.format(format).to_string())
            .y_desc("changes")
            .axis_desc_style(("sans-serif", 12).into_font().color(&INK))
            .draw()
            .map_err(|e| chart_err(&e))?;
        chart
            .configure_secondary_axes()
            .axis_style(INK)
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .y_desc("records")
            .axis_desc_style(("sans-serif", 12).into_font().color(&INK))
            .draw()
            .map_err(|e| chart_err(&e))?;
        // Bars a fixed share of the plot wide, whatever the spacing of the snapshots, and
        // never wider than the room between two points.
        let room_px = ((nearest - 2.0) / 2.0).max(1.0);
        let room = chrono::Duration::milliseconds((room_px / PLOT_WIDTH * span_ms) as i64);
        let half = ((x1 - x0) / (points.len() as i32 * 3).max(60)).min(room);
        chart
            .draw_series(points.iter().zip(&shown).filter_map(|(p, x)| {
                let n = p.changes?;
                let colour = if p.side.is_some() { SIDE } else { BAR };
                Some(Rectangle::new(
                    [(*x - half, 0), (*x + half, n)],
                    colour.filled(),
                ))
            }))
            .map_err(|e| chart_err(&e))?;
        chart
            .draw_secondary_series(LineSeries::new(
                points.iter().zip(&shown).map(|(p, x)| (*x, p.items)),
                LINE.stroke_width(2),
            ))
            .map_err(|e| chart_err(&e))?;
        chart
            .draw_secondary_series(points.iter().zip(&shown).map(|(p, x)| {
                Circle::new(
                    (*x, p.items),
                    radius(p.side.is_some()),
                    if p.side.is_some() { SIDE } else { LINE }.filled(),
                )
            }))
            .map_err(|e| chart_err(&e))?;
        root.present().map_err(|e| chart_err(&e))?;
    }
    // Sized by CSS (it scales with the page), described for screen readers.
    let label = format!(
        "Timeline of {} snapshots: changes per snapshot as bars, records held as a line",
        points.len()
    );
    Ok(out.replacen(
        "<svg ",
        &format!(
            "<svg role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" preserveAspectRatio=\"xMidYMid meet\" ",
            super::escape_html(&label)
        ),
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_close_in_time_are_drawn_apart_and_the_rest_where_they_are() {
        // Three snapshots within a second, one alone, two more at the right end.
        let at = [100.0, 100.1, 100.2, 400.0, PLOT_WIDTH, PLOT_WIDTH];
        let p = spread(&at, 12.0);
        for w in p.windows(2) {
            assert!(w[1] - w[0] >= 12.0 - 1e-9, "{p:?}");
        }
        assert!(p.iter().all(|x| (0.0..=PLOT_WIDTH).contains(x)), "{p:?}");
        // The cluster stays centred on its time; the lone one does not move.
        assert!(((p[0] + p[2]) / 2.0 - 100.1).abs() < 1e-6, "{p:?}");
        assert_eq!(p[3], 400.0);
        // Many points: the caller's gap is what fits, and it still holds.
        let many = vec![10.0; 120];
        let gap = PLOT_WIDTH / 120.0;
        let p = spread(&many, gap);
        assert!(p.windows(2).all(|w| w[1] - w[0] >= gap - 1e-9));
        assert!(
            p.iter().all(|x| (0.0..=PLOT_WIDTH + 1e-9).contains(x)),
            "{p:?}"
        );
    }
}
