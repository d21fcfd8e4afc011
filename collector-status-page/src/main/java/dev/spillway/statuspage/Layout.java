package dev.spillway.statuspage;

/** The frame every page shares: head, header, the embedded data block and the scripts. */
final class Layout {

    private Layout() {
    }

    /** @param signOutCsrf the session's CSRF token for the sign-out form, or null for no sign-out button */
    static void head(StringBuilder h, String title, StaticAssets assets, String signOutCsrf) {
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .append("<meta name=\"color-scheme\" content=\"light dark\">\n")
            .append("<title>").append(Html.esc(title)).append("</title>\n")
            .append("<link rel=\"stylesheet\" href=\"").append(assets.url("uplot/uPlot.min.css")).append("\">\n")
            .append("<link rel=\"stylesheet\" href=\"").append(assets.url("status.css")).append("\">\n")
            // status.js first: it installs the error recorder before uPlot runs; both run before DOMContentLoaded.
            .append("<script defer src=\"").append(assets.url("status.js")).append("\"></script>\n")
            .append("<script defer src=\"").append(assets.url("uplot/uPlot.iife.min.js")).append("\"></script>\n")
            .append("</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n")
            .append("<header class=\"top\"><a class=\"brand\" href=\"/\">Spillway</a>")
            .append("<span class=\"refreshed\" aria-live=\"polite\" id=\"refreshed\"></span>");
        if (signOutCsrf != null) {
            h.append("<form method=\"post\" action=\"/logout\" class=\"signout\"><input type=\"hidden\" name=\"csrf\""
                + " value=\"").append(Html.esc(signOutCsrf)).append("\"><button type=\"submit\">Sign out</button></form>");
        }
        h.append("</header>\n");
    }

    /** The page's data as JSON, for the scripts to draw from without a second request. */
    static void data(StringBuilder h, String json) {
        // JsonWriter escapes '<', so the text cannot close this element early.
        h.append("<script type=\"application/json\" id=\"page-data\">").append(json).append("</script>\n");
    }

    static void tail(StringBuilder h, StaticAssets assets) {
        h.append("<footer class=\"foot\">Plots drawn with uPlot (MIT, <a href=\"").append(assets.url("uplot/LICENSE"))
            .append("\">licence</a>). Refreshes every 10 s.</footer>\n</body>\n</html>\n");
    }
}
