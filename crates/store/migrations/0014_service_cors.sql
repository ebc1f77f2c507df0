-- Hale schema version 14: a FHIR or DICOM service's CORS settings (ARM's
-- properties.corsConfiguration), as JSON: {"origins": [...], "headers": [...],
-- "methods": [...], "maxAge": n, "allowCredentials": b}; NULL for none.
ALTER TABLE health_services ADD COLUMN cors TEXT;
