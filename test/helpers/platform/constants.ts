/**
 * Names and fixed values of the test platform, in one place. Paths and defaults mirror
 * Open edX's LTI consumer (xblock-lti-consumer); see /work/shared/docs/lti-openedx.md.
 */

const LTI = 'https://purl.imsglobal.org/spec/lti/claim/';

/** LTI 1.3 core claim names. */
export const LTI_CLAIM = {
  messageType: `${LTI}message_type`,
  version: `${LTI}version`,
  deploymentId: `${LTI}deployment_id`,
  targetLinkUri: `${LTI}target_link_uri`,
  resourceLink: `${LTI}resource_link`,
  roles: `${LTI}roles`,
  context: `${LTI}context`,
  toolPlatform: `${LTI}tool_platform`,
  launchPresentation: `${LTI}launch_presentation`,
  custom: `${LTI}custom`,
} as const;

/** The AGS endpoint claim. */
export const AGS_ENDPOINT_CLAIM = 'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint';

/** AGS scopes, as tools request them at the token endpoint. */
export const AGS_SCOPE = {
  lineitem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  lineitemReadonly: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly',
  resultReadonly: 'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
} as const;

/** Scopes Open edX will put in an access token; anything else requested is dropped silently. */
export const GRANTABLE_SCOPES: readonly string[] = [
  AGS_SCOPE.lineitemReadonly,
  AGS_SCOPE.lineitem,
  AGS_SCOPE.resultReadonly,
  AGS_SCOPE.score,
  'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
];

/** Scopes the launch's AGS claim advertises (Open edX, no programmatic line items). */
export const LAUNCH_AGS_SCOPES: readonly string[] = [
  AGS_SCOPE.lineitemReadonly,
  AGS_SCOPE.resultReadonly,
  AGS_SCOPE.score,
];

/** URL paths, relative to the issuer. */
export const PLATFORM_PATH = {
  authLogin: '/api/lti_consumer/v1/launch/',
  token: (clientId: string) => `/api/lti_consumer/v1/token/${clientId}`,
  keyset: (clientId: string) => `/api/lti_consumer/v1/public_keysets/${clientId}`,
  /** Open edX numbers LTI configurations; the test platform has exactly one. */
  lineitems: '/api/lti_consumer/v1/lti/1/lti-ags',
} as const;

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const SCORE_CONTENT_TYPE = 'application/vnd.ims.lis.v1.score+json';

/** Open edX caches launch data under lti_message_hint for this long. */
export const MESSAGE_HINT_TTL_SECONDS = 600;
export const ID_TOKEN_TTL_SECONDS = 3600;
export const ACCESS_TOKEN_TTL_SECONDS = 3600;

/** An Open edX block usage key, as Open edX uses for resource_link.id. */
export const DEFAULT_RESOURCE_LINK_ID = 'block-v1:Org+Course+Run+type@lti_consumer+block@abc';
export const DEFAULT_CONTEXT_ID = 'course-v1:Org+Course+Run';
export const LEARNER_ROLES: readonly string[] = [
  'http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student',
  'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner',
];

/** Signature algorithms the platform can sign launches with. */
export const PLATFORM_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384'] as const;

/** Caps for what the platform fetches (the tool keyset) and reads (request bodies). */
export const TOOL_KEYSET_TIMEOUT_MS = 5_000;
export const MAX_BODY_BYTES = 1_000_000;
