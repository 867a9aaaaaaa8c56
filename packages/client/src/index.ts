export { QmpClient, QmpError, QmpDisconnectedError, type QmpEventMessage, type ClientOptions } from './client.ts';
