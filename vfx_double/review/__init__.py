"""The review stage: the comp through an OCIO display view into dailies movies (H.264 for
the web, ProRes 422 HQ for editorial) with slate, burn-ins and watermark, a contact sheet
and ``report.json``; both movies signed with C2PA (:mod:`vfx_double.provenance`)."""
