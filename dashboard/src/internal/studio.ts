/**
 * What the dashboard tells owners about Open edX Studio: the LTI Consumer settings to use, and
 * the six values Studio shows back. The root README's "Connect an app to Open edX" tables
 * repeat these words exactly (test/dashboard/docs.test.ts checks them). Plain data, no imports.
 */

/** Where one of our three URLs goes (`App.ltiTool`). */
export type ToolUrlKey = 'launchUrl' | 'loginUrl' | 'keysetUrl';

export type StudioSetting =
  | { setting: string; value: string }
  | { setting: string; tool: ToolUrlKey };

/** The LTI Consumer component's settings, in Studio's order. */
export const STUDIO_SETTINGS: readonly StudioSetting[] = [
  { setting: 'LTI Version', value: 'LTI 1.3' },
  { setting: 'Tool Launch URL', tool: 'launchUrl' },
  { setting: 'Tool Initiate Login URL', tool: 'loginUrl' },
  { setting: 'Tool Public Key Mode', value: 'Keyset URL' },
  { setting: 'Tool Keyset URL', tool: 'keysetUrl' },
  { setting: 'Deep linking', value: 'Off' },
  { setting: 'LTI Launch Target', value: 'New Window' },
  { setting: 'Scored', value: 'Yes (weight as you like)' },
  { setting: 'LTI Assignment and Grades Service', value: 'Allow tools to submit grades only (declarative), the default' },
];

/** A field of `addLtiRegistration` / `updateLtiRegistration` that Studio shows a value for. */
export type RegistrationFieldKey = 'issuer' | 'clientId' | 'authLoginUrl' | 'authTokenUrl' | 'keysetUrl' | 'deploymentIds';

export interface RegistrationField {
  key: RegistrationFieldKey;
  /** Studio's name for it. */
  label: string;
  /** What it looks like, shown under the field. */
  hint: string;
  url: boolean;
}

/** The six values Studio shows once the component is saved, in Studio's order. */
export const REGISTRATION_FIELDS: readonly RegistrationField[] = [
  { key: 'issuer', label: 'Issuer', hint: 'The LMS address, e.g. https://lms.example.org', url: true },
  { key: 'clientId', label: 'Client ID', hint: 'A UUID, one per LTI component', url: false },
  { key: 'authLoginUrl', label: 'Login URL', hint: 'Ends in /api/lti_consumer/v1/launch/', url: true },
  { key: 'authTokenUrl', label: 'Access Token URL', hint: 'Ends in /api/lti_consumer/v1/token/ and a UUID', url: true },
  { key: 'keysetUrl', label: 'Keyset URL', hint: 'Ends in /api/lti_consumer/v1/public_keysets/ and a UUID', url: true },
  { key: 'deploymentIds', label: 'Deployment ID', hint: 'Open edX shows 1 (several: separate them with commas)', url: false },
];
