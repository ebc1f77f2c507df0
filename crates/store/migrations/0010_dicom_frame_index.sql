-- Hale schema version 10: where each stored DICOM instance's frames lie in
-- its blob (hale_dicom::retrieve::FrameIndex as text), so that WADO-RS
-- `/frames` reads byte ranges instead of parsing the whole file. NULL for
-- instances stored before, or whose frames could not be located at
-- ingestion: those are parsed per request as before.
ALTER TABLE dicom_instances ADD COLUMN frame_index TEXT;
