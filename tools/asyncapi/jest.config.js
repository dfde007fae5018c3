module.exports = {
  displayName: 'asyncapi-docs',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
