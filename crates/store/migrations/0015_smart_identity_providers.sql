-- Hale schema version 15: the SMART identity providers of a FHIR service
-- (ARM's properties.authenticationConfiguration.smartIdentityProviders), as
-- JSON: [{"authority": "...", "applications": [{"clientId": "...",
-- "audience": "...", "allowedDataActions": ["Read"]}]}]; NULL for none.
ALTER TABLE health_services ADD COLUMN smart_identity_providers TEXT;
